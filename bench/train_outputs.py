"""Dump, or compare, everything one incidents training produces (a same-results check).

    .venv/bin/python bench/train_outputs.py dump --sim DIR --template HOME --out DIR [--code DIR]
    .venv/bin/python bench/train_outputs.py compare DIR_A DIR_B

``dump`` lands and ingests the simulation's incidents history once in ``--template`` (as
``bench/bench_full_day.py`` cuts it), copies that home to ``<out>/home`` and trains the
incidents domain there through ``pipeline.train_domain`` (the ``train_models`` DAG's call),
then writes the backtest's scores of every method, the model's backtest scores, the metrics
(timings aside), the trials, the refits, the final booster's JSON, its raw and calibrated
scores of the evaluation rows, a digest of the model frame and the gate text. ``--code``:
import riskwarn and models from that folder (an archive of another commit) instead of this
checkout. ``compare`` says IDENTICAL or DIFFERENT per file (tables cell for cell, exact).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def dump(sim: Path, template: Path, out: Path, code: Path) -> None:
    sys.path.insert(0, str(code))
    sys.path.insert(0, str(code / "bench"))
    import numpy as np
    import pandas as pd
    from bench_full_day import SIMULATED_CITY_AREA, land, split_last_day

    import models.train as mt
    from riskwarn import pipeline
    from riskwarn.keys import new_key
    from riskwarn.settings import Settings

    meta = json.loads((sim / "simulation.json").read_text(encoding="utf-8"))
    day = pd.Timestamp(meta["end"]).tz_localize(meta.get("timezone", "Asia/Shanghai"))
    if not (template / "bench.ingested").exists():
        template.mkdir(parents=True, exist_ok=True)
        (template / "bench.key").write_text(new_key())
        s = Settings(
            home=template,
            pseudonym_key=(template / "bench.key").read_text(),
            city_area=SIMULATED_CITY_AREA,
        )
        plan = split_last_day(sim, day.strftime("%Y-%m-%d"), template / "cut", 3)
        land(s, "sim_incidents", plan["sim_incidents"]["history"])
        mapping = code / "configs" / "sources" / "sim_incidents.yaml"
        print(pipeline.ingest_source(s, mapping, day), flush=True)
        (template / "bench.ingested").write_text("ok")
    out.mkdir(parents=True, exist_ok=True)
    home = out / "home"
    if home.exists():
        shutil.rmtree(home)
    shutil.copytree(template, home)
    settings = Settings(
        home=home, pseudonym_key=(home / "bench.key").read_text(), city_area=SIMULATED_CITY_AREA
    )
    seen: dict[str, Any] = {}
    backtest, fit_model = mt.run_hotspot_backtest, mt.fit_model

    def keep_backtest(*a: Any, **k: Any) -> Any:
        seen["backtest"] = backtest(*a, **k)
        return seen["backtest"]

    def keep_final(*a: Any, **k: Any) -> Any:
        seen["final"] = fit_model(*a, **k)
        return seen["final"]

    mt.run_hotspot_backtest, mt.fit_model = keep_backtest, keep_final
    t0 = time.perf_counter()
    res = pipeline.train_domain(settings, "incidents", day)
    print(f"train incidents {time.perf_counter() - t0:.1f} s", flush=True)
    r, (final, _) = seen["backtest"], seen["final"]
    r.scores.to_parquet(out / "scores.parquet")
    r.model.scores.to_parquet(out / "model_scores.parquet")
    r.model.fits.to_parquet(out / "fits.parquet")
    metrics = {k: v for k, v in r.metrics.items() if k != "timings_s"}
    (out / "metrics.json").write_text(json.dumps(metrics, default=str, sort_keys=True, indent=1))
    (out / "trials.json").write_text(json.dumps(r.model.trials, default=str, sort_keys=True))
    (out / "final_booster.json").write_bytes(bytes(final.booster.save_raw("json")))
    ev = r.frame[r.frame["origin"].isin(r.eval_origins)]
    np.save(out / "final_raw.npy", final.raw(ev))
    np.save(out / "final_proba.npy", final.predict_proba(ev))
    about = {
        "blend": str(final.blend),
        "best": final.best_iteration,
        "n": final.n_train_rows,
        "params": final.params,
    }
    (out / "final.json").write_text(json.dumps(about, default=str, sort_keys=True))
    h = hashlib.sha256()
    for c in r.frame.columns:
        h.update(c.encode())
        h.update(str(r.frame[c].dtype).encode())
        h.update(pd.util.hash_pandas_object(r.frame[c], index=False).to_numpy().tobytes())
    (out / "frame.txt").write_text(f"{r.frame.shape} {h.hexdigest()}\n")
    (out / "gate.txt").write_text(str(res["gate"]) + "\n")
    print(res["gate"], flush=True)


def compare(a: Path, b: Path) -> bool:
    import pandas as pd

    same_all = True
    for name in sorted(p.name for p in a.iterdir() if p.is_file()):
        if name.endswith(".parquet"):
            try:
                pd.testing.assert_frame_equal(
                    pd.read_parquet(a / name), pd.read_parquet(b / name), check_exact=True
                )
                same = True
            except AssertionError as exc:
                print(exc)
                same = False
        else:
            same = (a / name).read_bytes() == (b / name).read_bytes()
        same_all &= same
        print(f"{name:24} {'IDENTICAL' if same else 'DIFFERENT'}")
    print("ALL IDENTICAL" if same_all else "DIFFERENCES")
    return same_all


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--sim", type=Path, required=True)
    d.add_argument("--template", type=Path, required=True)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--code", type=Path, default=ROOT)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        dump(args.sim, args.template, args.out, args.code.resolve())
        return 0
    return 0 if compare(args.a, args.b) else 1


if __name__ == "__main__":
    sys.exit(main())
