"""Benchmark of the streaming path (issue 16): MQTT -> lake -> warnings.

Starts a Mosquitto broker of its own on a free port with riskwarn's own configuration
(persistence on, no in-flight or queue cap, no anonymous client: scripts/mosquitto.conf.in;
the consumer signs in as ``stream``, the publisher as ``gateway``) and ``riskwarn
stream`` in a fresh home, then
publishes ``--sensors`` steady sensors, one reading each per 10 s, for ``--minutes``
(defaults 2,000 and 10: 200 readings/s), plus ``--slopes`` failing slopes whose 18-day
readings (14 steady days, then Fukuzono acceleration to failure) are replayed at the
speed that fits them into the run, so that levels change during it. At the end it
waits for the consumer to drain, stops it and counts the lake against what was
published. Prints one final JSON line: ``readings_published``, ``readings_stored``,
``lost``, ``duplicated``, ``p50_s``, ``p99_s`` (publish -> durable write in the lake),
``warning_p50_s``, ``warning_p99_s`` (publish of the reading that changed a level ->
level change published in the serving store), ``level_changes``, the failing slopes'
first orange / red lead times before failure (stream) beside the hourly nowcast's on
the same readings, ``peak_mb`` (the consumer's peak resident memory), and
``delivered_p50_s`` / ``delivered_max_s`` / ``deliveries``: publish of the reading that
changed a level to orange/red (or lowered one) -> the signed webhook received by a local
HTTP server (the consumer delivers through a contacts file: one contact, e-mail to a
local SMTP server and webhook). The site model: unless ``--no-model``, a transparent
hourly site model (``testkit.stream_helpers.SiteLogitModel``: velocity and 24 h rain) is
registered as the ``geohazard_hourly`` champion in the home's MLflow registry before the
consumer starts, and the line reports ``model`` (what the consumer's status says),
``model_ran``, ``model_evaluations`` and ``model_eval_ms`` (mean wall time of one
evaluation: model input through ``site_model_frame``, score, level):

    nice .venv/bin/python bench/bench_stream.py [--sensors 2000] [--minutes 10] [--slopes 3]

**The hour-on-the-hour burst** (``--burst-sites N``, with ``--bursts K``, default 3): in
real time every monitored site completes its hourly step at the same moment. ``N`` sites
(one GNSS each, steady creep with noise) get ``--burst-history-days`` (default 31) of
readings written to the home's lake before the consumer starts (hourly, 10-minute for
the last 2 days, through the stream's own validation and lake write, with the consumer's
sensor -> site map), so that the consumer warms its state up from the lake with a full
steady-velocity window, as after a restart. Then, ``K`` times, the readings that close
an hourly step are published for all ``N`` sites at once (and, between bursts, the
hour's other 10-minute readings). The final line adds ``burst_p50_s`` / ``burst_p99_s`` /
``burst_max_s`` (publish of a site's step-closing reading -> that site's level for the
step evaluated and handed to the serving store: published if it changed, found
unchanged otherwise), ``burst_wall_s`` (per burst: first reading sent -> last site
done), ``burst_site_steps_per_s`` (``N`` / wall, per burst) and ``burst_missing``
(site-steps never reported done); the steady sensors and slopes are off in this mode:

    /work/wt/heavy nice .venv/bin/python bench/bench_stream.py --burst-sites 500 --no-model
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testkit.stream_helpers import (  # noqa: E402
    Broker,
    Webhook,
    register_site_model,
    slope_readings,
    smtp_server,
    wait_for,
)

MAPPING = ROOT / "configs" / "sources" / "sim_sensor_readings.yaml"
SLOPE_FAIL_DAYS = 18.0
# the failing slopes fail at the last full hour: their orange/red warnings are in force
# now, so the consumer delivers them (a warning no longer in force is logged 'expired'
# and never sent, docs/streaming.md "Delivery"; with the fixed start of 2026-11-01 the
# bench measured no delivery once that date was a day past)
SLOPE_START = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(days=SLOPE_FAIL_DAYS)


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _nowcast_leads(readings: pd.DataFrame, site: str) -> dict[str, float | None]:
    """First orange / red of the hourly nowcast's sensor rules on the same readings
    (hours before failure; origins every hour over the last 5 days; the DAG's own
    delay of 10-60 min after each origin comes on top)."""
    from riskwarn import nowcast

    fail = SLOPE_START + pd.Timedelta(days=SLOPE_FAIL_DAYS)
    sensors = pd.DataFrame(
        {"record_id": readings["sensor_id"].unique(), "site_id": site, "sensor_type": "gnss"}
    )
    sites = pd.DataFrame({"record_id": [site]})
    first: dict[str, float | None] = {"orange": None, "red": None}
    for origin in pd.date_range(fail - pd.Timedelta(days=5), fail, freq="1h"):
        r = readings.loc[readings["observed_at"] < origin]
        rank = int(
            nowcast.site_sensor_state(sites, sensors, r, origin).iloc[0]["sensor_level_rank"]
        )
        lead = (fail - origin).total_seconds() / 3600
        if rank >= 3 and first["orange"] is None:
            first["orange"] = round(lead, 1)
        if rank >= 4 and first["red"] is None:
            first["red"] = round(lead, 1)
            break
    return first


BURST_SITE = "BURST{:04d}"
BURST_SENSOR = "BG{:04d}"


def _burst_value(creep: np.ndarray, noise: np.ndarray, i: int, t: pd.Timestamp) -> float:
    days = (t - pd.Timestamp("2026-01-01", tz="UTC")).total_seconds() / 86400
    return round(float(creep[i] * days + noise[i] * np.sin(days * 977.0 + i)), 3)


def _burst_reading(i: int, t: pd.Timestamp, value: float) -> dict[str, Any]:
    return {
        "sensor_id": BURST_SENSOR.format(i),
        "observed_at": t.to_pydatetime(),
        "interval_s": 600,
        "quantity": "displacement_mm",
        "value": value,
        "quality": "good",
    }


def _burst_history(
    home: Path, n: int, days: float, end: pd.Timestamp, creep: np.ndarray, noise: np.ndarray
) -> int:
    """Write ``days`` of readings of ``n`` burst sites before ``end`` into the home's
    lake as the consumer would (validation, lake write) and its sensor -> site map, so
    that the consumer warms up from them. Returns the number of readings."""
    from riskwarn.ingest import write_batch
    from riskwarn.keys import pseudonym_key_for
    from riskwarn.settings import Settings
    from riskwarn.sources import load_mapping
    from riskwarn.stream.payload import encode, topic_for
    from riskwarn.stream.validate import Message, validate_messages

    settings = Settings(home=home)
    mapping = load_mapping(str(MAPPING))
    start = end - pd.Timedelta(days=days)
    fine_from = end - pd.Timedelta(days=2)
    times = list(pd.date_range(start, fine_from, freq="1h", inclusive="left"))
    times += list(pd.date_range(fine_from, end, freq="10min", inclusive="left"))
    total = 0
    as_of = datetime.now(UTC)
    for k in range(0, len(times), 24):
        msgs = [
            Message(
                topic_for("simcity", BURST_SITE.format(i), BURST_SENSOR.format(i)),
                encode(_burst_reading(i, t, _burst_value(creep, noise, i, t))),
            )
            for t in times[k : k + 24]
            for i in range(n)
        ]
        mb = validate_messages(
            mapping,
            msgs,
            as_of=as_of,
            batch_id=f"bench-history-{k}",
            pseudonym_key=pseudonym_key_for(settings, mapping),
        )
        assert len(mb.batch.quarantine) == 0, mb.batch.quarantine.head()
        write_batch(
            settings.lake_dir, mb.batch, mapping.partition, ids_carry_time=mapping.ids_carry_time
        )
        total += len(mb.batch.accepted)
    run = home / "run"
    run.mkdir(parents=True, exist_ok=True)
    sites = {BURST_SENSOR.format(i): BURST_SITE.format(i) for i in range(n)}
    (run / "stream.sites.json").write_text(json.dumps(sites))
    return total


def _run_bursts(
    args: argparse.Namespace,
    client: Any,
    status: Path,
    published: list[str],
    first: pd.Timestamp,
    creep: np.ndarray,
    noise: np.ndarray,
) -> dict[tuple[str, int], float]:
    """Publish ``args.bursts`` step-closing bursts of all sites; (site, step end ns) ->
    send time of the reading that closed it."""
    from riskwarn.stream.payload import encode, topic_for

    n = args.burst_sites
    sent: dict[tuple[str, int], float] = {}

    def publish(t: pd.Timestamp, closing: bool) -> None:
        for i in range(n):
            site = BURST_SITE.format(i)
            now = datetime.now(UTC)
            client.publish(
                topic_for("simcity", site, BURST_SENSOR.format(i)),
                encode(_burst_reading(i, t, _burst_value(creep, noise, i, t)), now),
            )
            if closing:
                sent[(site, t.value)] = now.timestamp()
            local = t.tz_convert("Asia/Shanghai")
            published.append(f"{BURST_SENSOR.format(i)}|{local:%Y-%m-%d %H:%M:%S}|累计位移")

    def settled() -> bool:
        st = json.loads(status.read_text())
        return bool(
            st["received"] >= len(published) and st["queued"] == 0 and st.get("backlog", 0) == 0
        )

    for b in range(args.bursts):
        step_end = first + pd.Timedelta(hours=b)
        publish(step_end, closing=True)  # closes the step ending at step_end, all sites
        wait_for(settled, args.drain_timeout_s, 0.2)
        time.sleep(2)
        for m in range(10, 60, 10):  # the hour's other readings (close nothing)
            publish(step_end + pd.Timedelta(minutes=m), closing=False)
        wait_for(settled, args.drain_timeout_s, 0.2)
        time.sleep(2)
    return sent


def _burst_figures(
    sent: dict[tuple[str, int], float], done: dict[tuple[str, int], float], n: int, bursts: int
) -> dict[str, Any]:
    lat, walls = [], []
    by_step: dict[int, list[tuple[float, float]]] = {}
    for key, s in sent.items():
        if key in done:
            lat.append(done[key] - s)
            by_step.setdefault(key[1], []).append((s, done[key]))
    for pairs in by_step.values():
        walls.append(max(d for _, d in pairs) - min(s for s, _ in pairs))
    return {
        "burst_sites": n,
        "bursts": bursts,
        "burst_p50_s": round(float(np.percentile(lat, 50)), 3) if lat else None,
        "burst_p99_s": round(float(np.percentile(lat, 99)), 3) if lat else None,
        "burst_max_s": round(float(np.max(lat)), 3) if lat else None,
        "burst_wall_s": [round(w, 2) for w in walls],
        "burst_site_steps_per_s": [round(n / w, 1) for w in walls if w > 0],
        "burst_missing": len(sent) - len(lat),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sensors", type=int, default=2000)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--slopes", type=int, default=3)
    ap.add_argument("--interval-s", type=float, default=10.0)
    ap.add_argument("--drain-timeout-s", type=float, default=300.0)
    ap.add_argument("--skip-nowcast", action="store_true")
    ap.add_argument(
        "--burst-sites",
        type=int,
        default=0,
        help="The hour-on-the-hour burst: this many sites close an hourly step at once "
        "(steady sensors and slopes off).",
    )
    ap.add_argument("--bursts", type=int, default=3)
    ap.add_argument("--burst-history-days", type=float, default=31.0)
    ap.add_argument(
        "--no-model", action="store_true", help="Register no site model (sensor rules only)."
    )
    ap.add_argument(
        "--slope-tail-days",
        type=float,
        default=None,
        help="Publish the slopes' readings up to this many days before failure at once "
        "(then wait for the consumer to catch up) and spread only the rest over the run: "
        "the last day at a pace the rules can follow, for reading -> delivered latency.",
    )
    args = ap.parse_args()
    if args.burst_sites:
        args.sensors, args.slopes, args.minutes, args.skip_nowcast = 0, 0, 0.0, True

    from riskwarn import lake
    from riskwarn.stream.auth import close_client
    from riskwarn.stream.payload import encode, topic_for
    from riskwarn.stream.replay import AckedPublisher, connect

    tmp = Path(tempfile.mkdtemp(prefix="bench_stream_"))
    home = tmp / "home"
    home.mkdir(mode=0o700)
    broker = Broker(tmp / "broker", auth=True)  # riskwarn's conf: accounts and ACL
    broker.start()
    metrics = tmp / "metrics.txt"
    hook = Webhook().__enter__()
    smtp = smtp_server()
    smtp_port, mails = smtp.__enter__()
    contacts = tmp / "contacts.json"
    contacts.write_text(
        json.dumps(
            {
                "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "riskwarn@bench"},
                "webhook": {"url": hook.url, "secret_env": "RISKWARN_WEBHOOK_SECRET"},
                "escalate_after_minutes": 600,
                "retry_base_s": 0.5,
                "contacts": {"duty": {"email": "duty@example.test", "webhook": True}},
                "routes": {"default": ["duty"]},
            }
        )
    )
    env = {
        **os.environ,
        "RISKWARN_HOME": str(home),
        "RISKWARN_WEBHOOK_SECRET": "bench-webhook-secret-0123456789abcdef",
        **broker.env("stream"),  # the consumer signs in as 'stream'
    }
    if not args.no_model:
        from riskwarn.settings import Settings
        from riskwarn.store import Store
        from scripts.check_champion import adopt_champion

        bench_settings = Settings(home=home)
        store = Store(bench_settings.resolved_store_url)
        store.upgrade()
        uri = bench_settings.resolved_mlflow_uri
        register_site_model(uri, (home / "mlartifacts").as_uri())
        adopt_champion(uri, store, "geohazard_hourly")
        store.close()
    burst_first = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=args.bursts + 1)
    burst_rng = np.random.default_rng(5)
    burst_creep = burst_rng.uniform(0.05, 0.5, args.burst_sites)  # mm/day
    burst_noise = burst_rng.uniform(0.005, 0.02, args.burst_sites)  # mm
    history_n = 0
    if args.burst_sites:
        t_hist = time.monotonic()
        history_n = _burst_history(
            home, args.burst_sites, args.burst_history_days, burst_first, burst_creep, burst_noise
        )
        print(
            f"burst history: {history_n} readings in {time.monotonic() - t_hist:.0f} s",
            file=sys.stderr,
        )
    log = (tmp / "consumer.log").open("w")
    consumer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "riskwarn.cli",
            "stream",
            "--port",
            str(broker.port),
            "--source",
            str(MAPPING),
            "--metrics",
            str(metrics),
            "--client-id",
            "bench",
            "--contacts",
            str(contacts),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    status = home / "run" / "stream.status.json"
    wait_for(lambda: status.exists() and json.loads(status.read_text())["connected"], 600)

    slopes = [
        slope_readings(
            f"FS{i}", start=SLOPE_START, failure_after_days=SLOPE_FAIL_DAYS, step="10min", seed=i
        )
        for i in range(args.slopes)
    ]
    # counts only what the broker acknowledged (MQTT 5 PUBACK reasons); a refused reading
    # stops the bench with PublishRefused instead of a drain that never completes
    client = AckedPublisher(
        connect("127.0.0.1", broker.port, "bench-publisher", **broker.login("gateway"))
    )
    published: list[str] = []
    full_slopes = slopes
    if args.slope_tail_days is not None:
        cut = SLOPE_START + pd.Timedelta(days=SLOPE_FAIL_DAYS - args.slope_tail_days)
        for k, s in enumerate(slopes):
            for r in s.loc[s["observed_at"] < cut].itertuples(index=False):
                reading = r._asdict()
                reading["observed_at"] = pd.Timestamp(r.observed_at).to_pydatetime()
                client.publish(topic_for("simcity", f"FSITE{k}", r.sensor_id), encode(reading))
                local = pd.Timestamp(r.observed_at).tz_convert("Asia/Shanghai")
                published.append(f"{r.sensor_id}|{local:%Y-%m-%d %H:%M:%S}|累计位移")
        slopes = [s.loc[s["observed_at"] >= cut] for s in slopes]

        def caught_up() -> bool:
            st = json.loads(status.read_text())
            return bool(st["received"] >= len(published) and st.get("backlog", 0) == 0)

        wait_for(caught_up, args.drain_timeout_s, 1.0)
        time.sleep(3)
    burst_sent: dict[tuple[str, int], float] = {}
    if args.burst_sites:
        # the consumer's first champion look-up (MLflow's database set up in the
        # background) must not fall on a burst: wait until it has answered
        wait_for(lambda: json.loads(status.read_text()).get("model") != "loading", 600, 0.5)
        burst_sent = _run_bursts(
            args, client, status, published, burst_first, burst_creep, burst_noise
        )
    ticks = int(args.minutes * 60 / args.interval_s)
    per_tick = [int(np.ceil(len(s) / max(ticks - 1, 1))) for s in slopes]
    t0 = time.monotonic()
    creep = np.random.default_rng(1).uniform(0.0, 0.5, args.sensors)
    for tick in range(ticks):
        tick_start = t0 + tick * args.interval_s
        if tick_start > time.monotonic():
            time.sleep(tick_start - time.monotonic())
        for i in range(args.sensors):
            due = tick_start + args.interval_s * i / args.sensors
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            now = datetime.now(UTC).replace(microsecond=0)
            obs = pd.Timestamp(now) - pd.Timedelta(seconds=1)
            sid = f"BS{i:05d}"
            reading = {
                "sensor_id": sid,
                "observed_at": obs.to_pydatetime(),
                "interval_s": 10,
                "quantity": "displacement_mm",
                "value": round(creep[i] * tick / 8640, 4),
                "quality": "good",
            }
            client.publish(
                topic_for("simcity", f"BSITE{i // 4:04d}", sid), encode(reading, datetime.now(UTC))
            )
            local = obs.tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M:%S")
            published.append(f"{sid}|{local}|累计位移")
        for k, s in enumerate(slopes):
            part = s.iloc[tick * per_tick[k] : (tick + 1) * per_tick[k]]
            for r in part.itertuples(index=False):
                reading = r._asdict()
                reading["observed_at"] = pd.Timestamp(r.observed_at).to_pydatetime()
                client.publish(
                    topic_for("simcity", f"FSITE{k}", r.sensor_id),
                    encode(reading, datetime.now(UTC)),
                )
                local = (
                    pd.Timestamp(r.observed_at)
                    .tz_convert("Asia/Shanghai")
                    .strftime("%Y-%m-%d %H:%M:%S")
                )
                published.append(f"{r.sensor_id}|{local}|累计位移")
        client.check()  # the PUBACKs in so far (a refused reading stops the bench)
    publish_s = time.monotonic() - t0
    acknowledged = client.settle()
    assert acknowledged == len(published), (acknowledged, len(published))
    close_client(client.client)
    with contextlib.suppress(TimeoutError):
        wait_for(
            lambda: (
                json.loads(status.read_text())["received"] >= len(published)
                and json.loads(status.read_text())["queued"] == 0
                and json.loads(status.read_text()).get("backlog", 0) == 0
            ),
            args.drain_timeout_s,
            1.0,
        )
    time.sleep(5)  # the delivery thread polls every second
    peak = _peak_mb(consumer.pid)
    consumer.send_signal(signal.SIGTERM)
    consumer.wait(120)
    broker.stop()
    final = json.loads(status.read_text())

    stored = lake.scan(home / "lake", "sensor_readings", ["simcity"], ["record_id"])[
        "record_id"
    ].to_pylist()
    want = set(published)
    have = pd.Series(stored)
    lost = len(want - set(stored))
    duplicated = int(have.duplicated().sum()) + max(len(published) - len(want), 0) * 0
    durable, warn, changes = [], [], []
    evals: list[tuple[int, float]] = []  # (site-steps, seconds) per evaluation pass
    waits, txns = [], []  # evaluated -> publish begins (durability, order), transaction
    sent_of: dict[tuple[str, int, pd.Timestamp], float] = {}
    round_done: dict[tuple[str, int], float] = {}  # (site, step end ns) -> handed over
    for line in metrics.read_text().splitlines():
        kind, *rest = line.split()
        if kind == "r":
            for tok in rest[1:]:
                site, at = tok.rsplit("@", 1)
                round_done.setdefault((site, int(at)), float(rest[0]))
        elif kind == "d":
            durable.append(float(rest[0]))
        elif kind == "e":
            evals.append((int(rest[1]), float(rest[2])))
        elif kind == "p":
            waits.append(float(rest[0]))
            txns.append(float(rest[1]))
        elif kind == "w":
            warn.append(float(rest[0]))
            changes.append((rest[1], int(rest[2]), pd.Timestamp(rest[3])))
            if len(rest) > 4:
                sent_of[(rest[1], int(rest[2]), pd.Timestamp(rest[3]))] = float(rest[4])
    delivered = []
    for (_, body), got in zip(hook.received, hook.times, strict=True):
        msg = json.loads(body)
        rank = {None: 0, "blue": 1, "yellow": 2, "orange": 3, "red": 4}[msg["to_level"]]
        sent = sent_of.get((msg["site_id"], rank, pd.Timestamp(msg["at"])))
        if sent is not None:
            delivered.append(got - sent)
    hook.__exit__(None, None, None)
    smtp.__exit__(None, None, None)

    def pct(xs: list[float], q: float) -> float | None:
        return round(float(np.percentile(xs, q)), 3) if xs else None

    n_steps = sum(n for n, _ in evals)
    out: dict[str, Any] = {
        "sensors": args.sensors,
        "minutes": args.minutes,
        "slopes": args.slopes,
        "readings_published": len(published),
        "readings_stored": len(stored),
        "lost": lost,
        "duplicated": duplicated,
        "quarantined": final["quarantined"],
        "p50_s": round(float(np.percentile(durable, 50)), 3) if durable else None,
        "p99_s": round(float(np.percentile(durable, 99)), 3) if durable else None,
        "warning_p50_s": round(float(np.percentile(warn, 50)), 3) if warn else None,
        "warning_p99_s": round(float(np.percentile(warn, 99)), 3) if warn else None,
        "level_changes": len(changes),
        "deliveries": len(hook.received),
        "emails": len(mails),
        "delivered_p50_s": round(float(np.percentile(delivered, 50)), 3) if delivered else None,
        "delivered_max_s": round(float(np.max(delivered)), 3) if delivered else None,
        "publish_wall_s": round(publish_s, 1),
        # where a level change's time goes (besides the durable write above)
        "eval_site_steps": n_steps,
        "eval_ms_per_site_step": round(1000 * sum(t for _, t in evals) / n_steps, 1)
        if n_steps
        else None,
        "publish_wait_p50_s": pct(waits, 50),
        "publish_wait_p99_s": pct(waits, 99),
        "publish_txn_p50_s": pct(txns, 50),
        "publish_txn_p99_s": pct(txns, 99),
        "peak_mb": round(peak, 1),
        **(
            {
                **_burst_figures(burst_sent, round_done, args.burst_sites, args.bursts),
                "burst_history_readings": history_n,
            }
            if args.burst_sites
            else {}
        ),
        "model": final.get("model"),
        "model_ran": bool(final.get("model_evaluations")),
        "model_evaluations": final.get("model_evaluations", 0),
        "model_eval_ms": final.get("model_eval_ms"),
    }
    fail = SLOPE_START + pd.Timedelta(days=SLOPE_FAIL_DAYS)
    for k in range(args.slopes):
        site = f"FSITE{k}"
        mine = [(r, at) for s, r, at in changes if s == site]
        first = {
            name: next(
                (round((fail - at).total_seconds() / 3600, 1) for r, at in mine if r >= rank), None
            )
            for name, rank in (("orange", 3), ("red", 4))
        }
        out[f"{site}_levels"] = [r for r, _ in mine]
        out[f"{site}_level_changes"] = len(mine)
        out[f"{site}_stream_first_hours_before_failure"] = first
    if not args.skip_nowcast and slopes:
        out["nowcast_first_hours_before_failure"] = _nowcast_leads(full_slopes[0], "FSITE0")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
