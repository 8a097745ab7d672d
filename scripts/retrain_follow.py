"""Follow a retrain to its end under ``make up``, through the dashboard's own Airflow client.

Triggers ``train_models`` for one domain exactly as the models page's retrain button does
(:func:`dashboard.airflow_api.trigger`, signed in as the ``dashboard`` Airflow user whose
password ``make up`` wrote to ``$RISKWARN_HOME/secrets/airflow_passwords.json``), prints
every change of the run's progress as the page shows it, and at the end the training
result the page reads (version, gate verdict, promoted or not).

    make up
    .venv/bin/python scripts/retrain_follow.py incidents   # exit 0 = the run succeeded
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from dashboard import airflow_api as api


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("domain")
    parser.add_argument(
        "--url", default=os.environ.get("RISKWARN_AIRFLOW_API_URL", "http://127.0.0.1:8080")
    )
    parser.add_argument("--timeout-s", type=float, default=1800)
    args = parser.parse_args()
    home = Path(os.environ.get("RISKWARN_HOME", "var"))
    passwords = json.loads((home / "secrets" / "airflow_passwords.json").read_text())
    os.environ["RISKWARN_AIRFLOW_USER"] = "dashboard"
    os.environ["RISKWARN_AIRFLOW_PASSWORD"] = passwords["dashboard"]
    cfg = api.config(args.url)
    if not api.reachable(cfg):
        print(f"Airflow does not answer at {args.url}: run `make up` first", file=sys.stderr)
        return 2
    run_id = str(api.trigger(cfg, args.domain, "retrain_follow")["dag_run_id"])
    print(f"triggered train_models run {run_id}", flush=True)
    start, last, state = time.monotonic(), "", ""
    while time.monotonic() - start < args.timeout_s:
        prog = api.progress(cfg, run_id)
        state = str(prog.get("state"))
        line = f"state {state}, tasks {json.dumps(prog.get('tasks'))}"
        if line != last:
            print(f"{time.monotonic() - start:6.0f} s  {line}", flush=True)
            last = line
        if state in ("success", "failed"):
            break
        time.sleep(10)
    print("result", json.dumps(api.result(cfg, run_id), default=str))
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
