"""riskwarn: city risk scoring (see README.md)."""

from riskwarn.allocators import reserve_less_address_space

reserve_less_address_space()  # before pyarrow allocates: see riskwarn/allocators.py
