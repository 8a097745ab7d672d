"""Dump, or compare, everything one training produces (a same-results check).

    .venv/bin/python bench/train_outputs.py dump --sim DIR --template HOME --out DIR [--code DIR]
        [--domain incidents|geohazard|geohazard_hourly] [--reading-months N] [--batch-sensors N]
        [--eval-days N]
    .venv/bin/python bench/train_outputs.py compare DIR_A DIR_B

``dump`` lands and ingests the simulation's incidents history once in ``--template`` (as
``bench/bench_full_day.py`` cuts it), copies that home to ``<out>/home`` and trains the
incidents domain there through ``pipeline.train_domain`` (the ``train_models`` DAG's call),
then writes the backtest's scores of every method, the model's backtest scores, the metrics
(timings aside), the trials, the refits, the final booster's JSON (and that of the trees up
to its best iteration, the ones its predictions use), its raw and calibrated
scores of the evaluation rows, a digest of the model frame and the gate text. ``--code``:
import riskwarn and models from that folder (an archive of another commit) instead of this
checkout. ``compare`` says IDENTICAL or DIFFERENT per file (tables cell for cell, exact).

``--domain geohazard`` or ``geohazard_hourly`` (a monitored-site domain) lands and ingests the
site sources instead (hazard sites, sensors, sensor readings: the last ``--reading-months``,
default 3, 0 = all; hazard events) and dumps the site table's digest, the backtest's
scores and refits, the metrics, the final booster, its scores of the evaluation rows, the
data version logged to MLflow and the gate text. ``--batch-sensors N``: training reads the
readings by batches of about N sensors (``models.geohazard_sites.TRAIN_BATCH_SENSORS``; code
from before the batches has no such setting and reads the table whole). ``--domain geohazard_hourly,geohazard`` (several site domains, comma-separated) trains them
together through ``pipeline.train_domains`` (one spill, one pass of the shared work, as the
``train_models`` DAG does) and writes each domain's outputs to ``<out>/<domain>``: compare
each with a dump of that domain alone. ``--eval-days N``:
the site backtest's last window (``TrainOptions.eval_days``; default the domain's 28
days, which on the small simulation hold no failure: the window then reaches back to its
July failures, ``models.geohazard_sites.evaluation_window``). A template home holds one domain family's
sources: use one template per family.
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


SITE_SOURCES = ("sim_hazard_sites", "sim_sensors", "sim_sensor_readings", "sim_hazard_events")


def dump(
    sim: Path,
    template: Path,
    out: Path,
    code: Path,
    domain: str = "incidents",
    months: int = 3,
    batch_sensors: int | None = None,
    eval_days: int | None = None,
) -> None:
    if domain != "incidents":
        dump_site(sim, template, out, code, domain, months, batch_sensors, eval_days)
        return
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
    # the trees predictions use (up to the best iteration; the booster also holds the
    # early-stopping rounds grown after it, which a shorter patience does not grow)
    used = final.booster[: final.best_iteration + 1]
    (out / "final_booster_used.json").write_bytes(bytes(used.save_raw("json")))
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


def dump_site(
    sim: Path,
    template: Path,
    out: Path,
    code: Path,
    domain: str,
    months: int,
    batch_sensors: int | None = None,
    eval_days: int | None = None,
) -> None:
    """The monitored-site domain's outputs (see the module docstring)."""
    sys.path.insert(0, str(code))
    sys.path.insert(0, str(code / "bench"))
    import pandas as pd
    from bench_full_day import SIMULATED_CITY_AREA, land, split_last_day

    import models.geohazard_sites as gs
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
        plan = split_last_day(sim, day.strftime("%Y-%m-%d"), template / "cut", months or None)
        for source in SITE_SOURCES:
            land(s, source, plan[source]["history"])
            mapping = code / "configs" / "sources" / f"{source}.yaml"
            print(source, pipeline.ingest_source(s, mapping, day), flush=True)
        (template / "bench.ingested").write_text("ok")
    out.mkdir(parents=True, exist_ok=True)
    home = out / "home"
    if home.exists():
        shutil.rmtree(home)
    shutil.copytree(template, home)
    settings = Settings(
        home=home, pseudonym_key=(home / "bench.key").read_text(), city_area=SIMULATED_CITY_AREA
    )
    group = domain.split(",")
    if len(group) > 1 and not hasattr(pipeline, "train_domains"):
        raise SystemExit(f"--domain {domain}: the code in {code} trains one domain at a time")
    seen_of: dict[str, dict[str, Any]] = {d: {} for d in group}
    current = [group[0]]  # the domain being trained (the group trains them one after another)
    real = {n: getattr(gs, n) for n in ("build_site_table", "run_site_backtest", "fit_site_model")}
    real_log = gs.log_training_run

    def keeper(name: str) -> Any:
        def keep(*a: Any, **k: Any) -> Any:
            seen_of[current[0]][name] = real[name](*a, **k)
            return seen_of[current[0]][name]

        return keep

    def keep_log(*a: Any, **k: Any) -> Any:
        seen = seen_of[current[0]]
        seen["data_version"] = a[3]
        seen["metrics"] = json.dumps(
            {k: v for k, v in a[2].items() if k != "timings_s"}, default=str, sort_keys=True
        )
        return real_log(*a, **k)

    for name in real:
        setattr(gs, name, keeper(name))
    if len(group) > 1:  # the group's tables come from build_site_tables, one per domain
        real_finish = gs.finish_site_training

        def keep_finish(plan: Any, table: Any, *a: Any, **k: Any) -> Any:
            current[0] = plan.domain
            seen_of[plan.domain]["build_site_table"] = table
            return real_finish(plan, table, *a, **k)

        gs.finish_site_training = keep_finish
    if batch_sensors is not None:
        if not hasattr(gs, "TRAIN_BATCH_SENSORS"):
            raise SystemExit(f"--batch-sensors: the code in {code} reads the readings whole")
        gs.TRAIN_BATCH_SENSORS = batch_sensors  # type: ignore[attr-defined]
    gs.log_training_run = keep_log
    t0 = time.perf_counter()
    options = pipeline.TrainOptions(eval_days=eval_days)
    if len(group) > 1:
        results = pipeline.train_domains(settings, group, day, options)
        for r in results.values():
            if isinstance(r, Exception):
                raise r
    else:
        results = {domain: pipeline.train_domain(settings, domain, day, options)}
    print(f"train {domain} {time.perf_counter() - t0:.1f} s", flush=True)
    for d in group:
        where = out / d if len(group) > 1 else out
        where.mkdir(parents=True, exist_ok=True)
        write_site_outputs(where, gs, seen_of[d], results[d])


def write_site_outputs(out: Path, gs: Any, seen: dict[str, Any], res: Any) -> None:
    """One site domain's outputs (the module docstring) from what its training passed."""
    import numpy as np
    import pandas as pd

    table, bt = seen["build_site_table"], seen["run_site_backtest"]
    final, threshold = seen["fit_site_model"]  # the last fit: the final model
    bt.scores.to_parquet(out / "scores.parquet")
    bt.fits.astype({c: str for c in bt.fits.columns if bt.fits[c].dtype == object}).to_parquet(
        out / "fits.parquet"
    )
    (out / "data_version.txt").write_text(seen["data_version"] + "\n")
    (out / "metrics.json").write_text(seen["metrics"] + "\n")
    (out / "final_booster.json").write_text(
        bytes(final.booster.save_raw("json")).decode() if final.booster is not None else "none"
    )
    features = gs.site_features(table)
    ev = table[table["origin"] >= bt.scores["origin"].min()]
    np.save(out / "final_raw.npy", final.raw(ev))
    np.save(out / "final_proba.npy", final.predict_proba(ev))
    (out / "final.json").write_text(
        json.dumps({"threshold": threshold, "trees": final.trees, "features": features})
    )
    h = hashlib.sha256()
    for c in table.columns:
        h.update(c.encode())
        h.update(str(table[c].dtype).encode())
        h.update(pd.util.hash_pandas_object(table[c], index=False).to_numpy().tobytes())
    (out / "frame.txt").write_text(f"{table.shape} {h.hexdigest()}\n")
    (out / "gate.txt").write_text(str(res.get("gate")) + "\n")
    print(res.get("gate"), flush=True)


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
    d.add_argument("--domain", default="incidents")
    d.add_argument("--reading-months", type=int, default=3)
    d.add_argument("--batch-sensors", type=int, default=None)
    d.add_argument("--eval-days", type=int, default=None)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        dump(
            args.sim,
            args.template,
            args.out,
            args.code.resolve(),
            args.domain,
            args.reading_months,
            args.batch_sensors,
            args.eval_days,
        )
        return 0
    return 0 if compare(args.a, args.b) else 1


if __name__ == "__main__":
    sys.exit(main())
