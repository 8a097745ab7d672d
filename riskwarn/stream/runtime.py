"""The consumer's configuration, counters and small parts (:mod:`riskwarn.stream.consumer`
runs the loop): what a micro-batch hands to the evaluation thread, how an error is told
in one line, and the crash test hook."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from riskwarn.settings import Settings
from riskwarn.sources import SourceMapping
from riskwarn.stream.publish import LevelChange

# the serving_lookback_days setting's default: what the stream's site model reads unless
# the consumer is given the setting
SERVING_LOOKBACK_DAYS = int(Settings.model_fields["serving_lookback_days"].default)

# how far a streamed reading's observed_at may be after the consumer's clock (a device or
# gateway clock running ahead; NTP keeps both within seconds, a gateway without it drifts
# minutes): accepted with its own time. Further ahead: quarantined future_timestamp. Before
# 2026-12-07 no tolerance (the mapping's max_future_hours, 0): a reading 30 s ahead was
# quarantined. The nowcast at origin T reads observed_at < T only (serving_frames.
# read_recent_readings), the stream evaluates a step from readings before its end.
CLOCK_SKEW_S = 300.0


@dataclass
class StreamConfig:
    mapping: SourceMapping
    lake_dir: Path
    store_url: str
    status_path: Path
    host: str = "127.0.0.1"
    port: int = 1884  # riskwarn's own broker (scripts/services.sh); 1883: the system one
    client_id: str = "riskwarn-stream"
    # the broker account (riskwarn.stream.auth): user "stream", its password from
    # RISKWARN_MQTT_PASSWORD or <home>/secrets/mqtt_passwords.json; None = no sign-in
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_from: str = ""  # where it came from, for the refusal line
    # the passwords file (<home>/secrets/mqtt_passwords.json) the password came from:
    # re-read when the broker refuses it (rotated); None: given directly (environment)
    password_file: Path | None = None
    # paho's reconnect backoff after a lost connection or a refused sign-in: from
    # reconnect_min_s, doubling, at most reconnect_max_s (whole seconds, as paho takes)
    reconnect_min_s: int = 1
    reconnect_max_s: int = 10
    max_batch: int = 5000
    batch_s: float = 0.5
    eval_budget_s: float = 0.5  # evaluation between looks at new readings, at most
    delivery: Any = None  # DeliveryConfig or None
    metrics_path: Path | None = None  # latency lines for bench/bench_stream.py
    pseudonym_key: str = ""
    lower_after_steps: int = 6  # hysteresis: hourly evaluations below a level to lower it
    confirm_steps: int = 2  # ... at blue/yellow to raise to it (orange/red: at once)
    # the champion site model (geohazard_hourly) from this MLflow registry; None = the
    # sensor rules alone (no model configured)
    mlflow_uri: str | None = None
    model_every_s: float = 60.0  # a site is scored by the model at most this often
    model_reload_s: float = 600.0  # the champion is looked up again this often
    tz: str = "Asia/Shanghai"  # the site model's local days (settings.display_tz)
    # days of readings the site model reads before an origin, as the nowcast: the
    # serving_lookback_days setting (riskwarn.serving_frames.serving_lookback_days)
    model_lookback_days: int = SERVING_LOOKBACK_DAYS
    # after a restart, the steps after each site's cursor are evaluated again from the
    # lake, at most this many hours before its newest complete step
    replay_max_hours: float = 168.0
    # a reading this far after the consumer's clock is accepted (device clock ahead),
    # one later is quarantined future_timestamp:observed_at (docs/streaming.md)
    clock_skew_s: float = CLOCK_SKEW_S
    # the lake's sensors register (sensor -> site) is read again this often
    register_reload_s: float = 600.0


@dataclass
class Counters:
    # received ... resolved: this home's totals since ``counts_since`` (seeded from
    # run/stream.counts.json at start, riskwarn.stream.ledger), not this process's
    received: int = 0  # messages
    accepted: int = 0  # readings stored: new records + corrections
    corrections: int = 0  # of these, later versions of a record the lake held
    quarantined: int = 0  # messages quarantined (at validation, or refused at the write)
    duplicates: int = 0  # exact repeats (in a micro-batch or of what the lake holds)
    written_new: int = 0  # of the accepted, records the lake did not hold
    # of the quarantined, rows a later accept of their reading removed from the open
    # quarantine (future_timestamp: sent again once its time had come)
    resolved: int = 0
    batches: int = 0
    lake_retries: int = 0
    store_retries: int = 0
    published_runs: int = 0
    level_changes: int = 0
    deliveries_logged: int = 0  # new rows logged pending (their warning in force)
    deliveries_logged_expired: int = 0  # new rows logged expired: never queued nor sent
    deliveries_expired_queued: int = 0  # pending rows that expired before being sent
    # not sent after a catch-up (riskwarn.store.deliveries._net_change): merged into a
    # later change of their warning / the end of a warning nobody was told of
    deliveries_superseded: int = 0
    deliveries_unpaged: int = 0
    deliveries_cancelled: int = 0  # pending rows the review panel stopped (dismissed)
    # rows recorded not sent (superseded, not paged, expired, cancelled) after a claim
    # whose outcome was never recorded: they may have been sent (counted apart from those)
    deliveries_maybe_sent: int = 0
    # deliveries recorded failed in the store now (their contact not reached after every
    # retry; escalated, tried again while in force), and of these the red ones: read by
    # the sender with each escalation pass
    deliveries_failed: int = 0
    deliveries_failed_red: int = 0
    # of these, the ones to the last contact of their route (nobody further to escalate to)
    deliveries_failed_last: int = 0
    last_write_at: str | None = None
    connected: bool = False
    # what is failing now ("lake write" / "publishing" -> "since <UTC>: <Class>: <first
    # line of the error>"), for the log and `riskwarn stream --status`; gone once it works
    failing: dict[str, str] = field(default_factory=dict)
    # what failed and works again ("replay" -> "at <UTC> (failing since <UTC>: <Class>;
    # ...)"), shown by `riskwarn stream --status` until the consumer restarts
    recovered: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Handoff:
    """A written micro-batch for the evaluation thread: ``accepted`` is what the lake
    stored of it (:func:`riskwarn.stream.validate.stored_rows`), ``seq`` its place in the
    order of the lake writes."""

    seq: int
    accepted: pd.DataFrame
    sites: dict[str, str | None]
    sent_at: dict[str, float]


class Stopped(Exception):
    """Stopped while waiting for the lake or the store to work again (what was not
    written is not acknowledged: the broker sends it again to the next consumer)."""


def describe(exc: BaseException) -> str:
    """``Class: first line of the message`` (for a database error, of the driver's error:
    SQLAlchemy's own text holds the statement and its parameters)."""
    orig = getattr(exc, "orig", None)
    inner = orig if isinstance(orig, BaseException) else exc
    first = (str(inner).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def error_kind(exc: BaseException) -> str:
    """The class of an unexpected error, with an OS error's own words (``strerror``: never
    the file name or the message, which may hold a site's data)."""
    name = type(exc).__name__
    strerror = exc.strerror if isinstance(exc, OSError) else None
    return f"{name}: {strerror}" if strerror else name


def crash_point(changes: list[LevelChange]) -> None:
    """Test hook (tests/test_stream_crash.py): with ``RISKWARN_TESTING`` set and
    ``RISKWARN_STREAM_KILL_BEFORE_PUBLISH`` set to a file path that does not exist yet, the
    first publish holding a delivered (orange/red) change creates the file and SIGKILLs
    this process: evaluated, not published. Without ``RISKWARN_TESTING`` it does nothing
    (one variable left in a production environment must not kill the consumer)."""
    marker = os.environ.get("RISKWARN_STREAM_KILL_BEFORE_PUBLISH")
    if (
        not os.environ.get("RISKWARN_TESTING")
        or not marker
        or os.path.exists(marker)
        or not any(ch.notify for ch in changes)
    ):
        return
    with open(marker, "w") as fh:
        fh.write(" ".join(f"{ch.site_id}:{ch.to_rank}" for ch in changes))
        fh.flush()
        os.fsync(fh.fileno())
    os.kill(os.getpid(), signal.SIGKILL)


def kill_point(variable: str, when: bool) -> None:
    """Test hook (tests/test_stream_durable_counts.py): with ``RISKWARN_TESTING`` set and
    the environment variable ``variable`` set to a file path that does not exist yet, the
    first call with ``when`` true creates the file and SIGKILLs this process. Without
    ``RISKWARN_TESTING`` it does nothing."""
    if not when or not os.environ.get("RISKWARN_TESTING"):
        return
    marker = os.environ.get(variable)
    if not marker or os.path.exists(marker):
        return
    with open(marker, "w") as fh:
        fh.flush()
        os.fsync(fh.fileno())
    os.kill(os.getpid(), signal.SIGKILL)
