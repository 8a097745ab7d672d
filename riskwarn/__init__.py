"""riskwarn: city risk scoring (see README.md)."""

from riskwarn.allocators import reserve_less_address_space
from riskwarn.threads import sleep_when_idle

reserve_less_address_space()  # before pyarrow allocates: see riskwarn/allocators.py
sleep_when_idle()  # before libgomp is loaded (xgboost): see riskwarn/threads.py
