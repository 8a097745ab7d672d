"""The champion hourly site model (``geohazard_hourly``) on the stream.

The batch nowcast (:func:`riskwarn.nowcast.nowcast_geohazard`) scores each monitored site
at an hourly origin with the champion of the MLflow registry on
:func:`riskwarn.serving_frames.site_model_frame` over the last ``serving_lookback_days``
(a setting, 44 days by default) of *all* of a site's readings (rain at its gauge, displacement, health), and raises the result by the
hard sensor rules. The stream does the same, per site and hourly step, from its own
state:

* :class:`ReadingWindow` keeps every accepted reading (all quantities, area rain gauges
  included) of the last ``lookback_days`` per sensor, deduplicated as the lake holds
  them (one value per sensor, time and quantity), compactly (NumPy chunks, ~26 bytes a
  reading); after a restart it is refilled from the lake;
* :class:`StreamSiteModel` builds a site's model input at an origin with the very
  function batch serving uses (``site_model_frame``, on the site's sensors, the rain
  gauge batch serving would pick for it and the window's readings in
  ``[origin - lookback, origin)``: what ``read_recent_readings`` gives the nowcast),
  scores it with :func:`riskwarn.scoring.predict_probability`, gets the model's level
  from :func:`riskwarn.warnings.assign_levels` with the champion's level policy
  (:func:`riskwarn.nowcast.model_level_policy`) and its explanation from
  :func:`riskwarn.reasons.site_model_reasons`;
* the champion is loaded with :func:`models.registry.serving_champion` (the audited,
  verified load batch serving uses) in a background thread, at start and every
  ``reload_s`` (a champion registered or promoted later is picked up). Nothing about the
  model ever stops the consumer: no champion, a registry outage or a scoring error
  leaves the sensor rules running alone, and the status and the log say so;
* the champion's training data end is held to batch scoring's rule by the same
  functions (:func:`riskwarn.scoring.served_data_end`, :func:`~riskwarn.scoring.
  files_end_words`, :func:`~riskwarn.scoring.in_sample_at`): an end that cannot be read,
  changed since it was recorded, or earlier than its own files' fit refuses it at load
  (audited ``champion_refused``), and a step before its end (a replay of older
  readings) is left to the sensor rules; readings are stored all the same.

A site is scored at most once per ``every_s`` seconds (wall clock): in real time a
site's step completes once an hour, so every step is scored; a consumer catching up
(hours of readings in one micro-batch) reuses the site's last score for the steps in
between (``model_origin`` in the evidence says which origin it was) instead of spending
a model evaluation on each.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskwarn import domains
from riskwarn.settings import Settings

if TYPE_CHECKING:
    from models.registry import Champion, DataEnd
    from riskwarn.store import Store

log = logging.getLogger(__name__)

MODEL_DOMAIN = domains.names(scored_by=domains.NOWCAST_DAG)[0]  # the hourly site model
# what the nowcast reads unless told: the serving_lookback_days setting's default (the
# consumer passes the setting: StreamConfig.model_lookback_days)
LOOKBACK_DAYS = int(Settings.model_fields["serving_lookback_days"].default)
_READING_COLUMNS = ["sensor_id", "observed_at", "interval_s", "quantity", "value", "quality"]
_DTYPE = np.dtype(
    [("t", "i8"), ("interval", "f8"), ("value", "f8"), ("q", "i2"), ("quality", "i2")]
)
# a sensor type for a sensor the lake's sensors table does not list (from its quantity)
QUANTITY_SENSOR_TYPE = {
    "displacement_mm": "gnss",
    "crack_width_mm": "crack_meter",
    "rain_mm": "rain_gauge",
}


class _Codes:
    """Small integer codes for repeated strings (quantities, quality flags)."""

    def __init__(self) -> None:
        self.names: list[str | None] = [None]
        self.index: dict[str | None, int] = {None: 0}

    def code(self, name: Any) -> int:
        key = None if name is None or (isinstance(name, float) and np.isnan(name)) else str(name)
        got = self.index.get(key)
        if got is None:
            got = self.index[key] = len(self.names)
            self.names.append(key)
        return got


_HOUR_NS = 3_600_000_000_000


@dataclass
class _Sensor:
    chunks: list[np.ndarray] = field(default_factory=list)
    n_pending: int = 0
    newest: int = np.iinfo(np.int64).min


class ReadingWindow:
    """Every reading of the last ``lookback_days`` (before each sensor's newest), per
    sensor, one per (time, quantity) (the later arrival wins, as the lake's upsert).

    A sensor whose newest reading is older than the window's newest (any sensor's, event
    time) by more than the window keeps (``lookback_days`` + 1 day) is forgotten, checked
    once per hour of stream time: none of its readings is in the window of a step
    evaluated since (docs/streaming.md, "Silent sensors")."""

    def __init__(self, lookback_days: float = LOOKBACK_DAYS, compact_every: int = 64) -> None:
        # one extra day: a step evaluated late (a consumer catching up) sees its window
        self.keep_ns = int(pd.Timedelta(days=lookback_days + 1).value)
        self.compact_every = compact_every
        self.sensors: dict[str, _Sensor] = {}
        self.newest = np.iinfo(np.int64).min  # the newest reading of any sensor
        self.checked_hour = np.iinfo(np.int64).min
        self.forgotten = 0
        self.quantities = _Codes()
        self.qualities = _Codes()
        self.lock = threading.Lock()

    def __len__(self) -> int:
        with self.lock:
            return sum(int(sum(len(c) for c in s.chunks)) for s in self.sensors.values())

    def add(self, readings: pd.DataFrame) -> None:
        """Add accepted readings (canonical ``sensor_readings`` columns)."""
        if readings.empty:
            return
        t = pd.to_datetime(readings["observed_at"], utc=True).dt.as_unit("ns").astype("int64")
        rows = np.empty(len(readings), dtype=_DTYPE)
        rows["t"] = t.to_numpy()
        rows["interval"] = pd.to_numeric(readings["interval_s"]).astype(float).to_numpy()
        rows["value"] = pd.to_numeric(readings["value"]).astype(float).to_numpy()
        rows["q"] = [self.quantities.code(q) for q in readings["quantity"]]
        rows["quality"] = [self.qualities.code(q) for q in readings["quality"]]
        sids = readings["sensor_id"].astype(str).to_numpy()
        order = np.argsort(sids, kind="stable")
        sids, rows = sids[order], rows[order]
        cuts = np.flatnonzero(sids[1:] != sids[:-1]) + 1
        with self.lock:
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(sids)], strict=True):
                st = self.sensors.setdefault(str(sids[lo]), _Sensor())
                part = rows[lo:hi]
                st.chunks.append(part)
                st.n_pending += 1
                st.newest = max(st.newest, int(part["t"].max()))
                if st.n_pending >= self.compact_every:
                    self._compact(st)
                self.newest = max(self.newest, st.newest)
            hour = self.newest // _HOUR_NS
            if hour > self.checked_hour:  # once per hour of stream time
                self.checked_hour = hour
                cutoff = self.newest - self.keep_ns
                gone = [sid for sid, st in self.sensors.items() if st.newest < cutoff]
                for sid in gone:
                    del self.sensors[sid]
                self.forgotten += len(gone)

    def _compact(self, st: _Sensor) -> np.ndarray:
        a = st.chunks[0] if len(st.chunks) == 1 else np.concatenate(st.chunks)
        if st.n_pending:
            # the last arrival of a (time, quantity) wins; then in time order
            order = np.lexsort((np.arange(len(a)), a["q"], a["t"]))
            a = a[order]
            last = np.ones(len(a), dtype=bool)
            last[:-1] = (a["t"][1:] != a["t"][:-1]) | (a["q"][1:] != a["q"][:-1])
            a = a[last]
            a = a[a["t"] >= st.newest - self.keep_ns]
            st.chunks = [a]
            st.n_pending = 0
        return a

    def frame(
        self, sensor_ids: list[str], origin: pd.Timestamp, lookback_days: float
    ) -> pd.DataFrame:
        """The readings of ``sensor_ids`` in ``[origin - lookback, origin)`` as the lake's
        windowed read gives them (canonical dtypes, sorted by sensor and time)."""
        from riskwarn.contracts import TABLES, conform

        lo = int((origin - pd.Timedelta(days=lookback_days)).value)
        hi = int(origin.value)
        parts = []
        with self.lock:
            for sid in sorted(set(sensor_ids)):
                st = self.sensors.get(sid)
                if st is None or not st.chunks:
                    continue
                a = self._compact(st)
                a = a[(a["t"] >= lo) & (a["t"] < hi)]
                if len(a):
                    parts.append((sid, a))
        qn, ql = self.quantities.names, self.qualities.names
        frames = [
            pd.DataFrame(
                {
                    "sensor_id": sid,
                    "observed_at": pd.to_datetime(a["t"], utc=True),
                    "interval_s": a["interval"],
                    "quantity": [qn[i] for i in a["q"]],
                    "value": a["value"],
                    "quality": [ql[i] for i in a["quality"]],
                }
            )
            for sid, a in parts
        ]
        out = (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame({c: [] for c in _READING_COLUMNS})
        )
        out = conform(
            out.reindex(columns=TABLES["sensor_readings"].columns), TABLES["sensor_readings"]
        )
        out = out[_READING_COLUMNS]
        out = out.sort_values(["sensor_id", "observed_at"], kind="stable").reset_index(drop=True)
        out["observed_at"] = pd.to_datetime(out["observed_at"], utc=True)
        return out


@dataclass
class ModelScore:
    """The site model's view of a site at an origin."""

    probability: float
    level_rank: int  # the model's own level (0-4), before the sensor rules
    explanation: list[Any]  # the champion's reason items for the site
    origin: pd.Timestamp  # the origin it was scored at
    model: str  # "<name> v<version>"
    cost_s: float = 0.0


def model_reason(score: ModelScore, rules_rank: int, horizon_hours: float) -> dict[str, str]:
    """The bilingual reason naming the model: its probability, level, and whether it
    raised the level above the sensor rules."""
    from riskwarn import warnings as rw

    names = {0: "no warning", **rw.LEVEL_NAMES}
    zh = {0: "无预警", **rw.LEVEL_COLOUR_ZH}
    p, m = score.probability, score.level_rank
    en = (
        f"Site model {score.model}: failure probability {rw.pct_text(p)} over the next "
        f"{horizon_hours:.0f} h (model level {names[m]}"
    )
    cn = f"场地模型 {score.model}：未来 {horizon_hours:.0f} 小时失稳概率 {rw.pct_text(p)}（模型等级{zh[m]}"
    if m > rules_rank:
        en += f"; raised above the sensor rules' {names[rules_rank]})."
        cn += f"；高于传感器规则的{zh[rules_rank]}，由模型上调）。"
    else:
        en += f"; the sensor rules' {names[rules_rank]} is the floor)."
        cn += f"；以传感器规则的{zh[rules_rank]}为下限）。"
    return {"en": en, "zh": cn}


class StreamSiteModel:
    """The champion site model for the stream (see the module docstring)."""

    def __init__(
        self,
        mlflow_uri: str,
        store: Store,
        lake_dir: Path,
        *,
        tz: str = "Asia/Shanghai",
        every_s: float = 60.0,
        reload_s: float = 600.0,
        lookback_days: float = LOOKBACK_DAYS,
        domain: str = MODEL_DOMAIN,
        clock: Any = time.monotonic,
    ) -> None:
        from riskwarn import domains

        self.uri = mlflow_uri
        self.store = store
        self.lake_dir = lake_dir
        self.tz = tz
        self.every_s = every_s
        self.reload_s = reload_s
        self.lookback_days = lookback_days
        self.domain = domain
        self.horizon_hours = float(domains.get(domain).horizon_hours)
        self.clock = clock
        self.window = ReadingWindow(lookback_days)
        self.champion: Champion | None = None
        self.policy: Any = None
        self.state = "loading"  # what the status says about the model
        self.expected = False  # a champion should be serving (its absence is an outage)
        self.last_load = -np.inf
        self.loading = threading.Lock()
        self.last: dict[str, tuple[float, ModelScore]] = {}  # site -> (clock, score)
        self.evaluations = 0
        self.eval_s = 0.0
        self.failing: str | None = None
        # the served champion's training data end (riskwarn.scoring.served_data_end)
        self.data_end: DataEnd | None = None
        self.in_sample: str | None = None  # the newest refusal of an in-sample origin
        self.in_sample_steps = 0  # site steps left to the sensor rules for it
        # static site data: the lake's tables (else rows made from the topics)
        self.lake_sites = pd.DataFrame()
        self.lake_sensors = pd.DataFrame()
        self.topic_sites: dict[str, str | None] = {}  # sensor -> site from the topics
        self.sensor_quantity: dict[str, str] = {}
        self.gauge_of: dict[str, str] = {}  # site -> its rain gauge (batch serving's pick)
        self.gauge_size = (-1, -1)
        self.warmed = False

    # -- loading ------------------------------------------------------------------------

    @property
    def label(self) -> str | None:
        c = self.champion
        return f"{c.name} v{c.version}" if c is not None else None

    def status(self) -> dict[str, Any]:
        mean = self.eval_s / self.evaluations if self.evaluations else None
        state = self.state
        if self.failing is not None and self.champion is not None:
            state += f"; scoring FAILING (sensor rules only meanwhile): {self.failing}"
        if self.in_sample is not None and self.champion is not None:
            state += f"; {self.in_sample} ({self.in_sample_steps} site steps)"
        return {
            "model": state,
            "model_evaluations": self.evaluations,
            "model_eval_ms": None if mean is None else round(1000 * mean, 1),
        }

    def maybe_load(self, sensors_seen: list[str] | None = None) -> None:
        """(Re)load the champion in a background thread when due (never raises)."""
        if self.clock() - self.last_load < self.reload_s or self.loading.locked():
            return
        self.last_load = self.clock()
        threading.Thread(
            target=self.load, args=(sensors_seen,), name="site-model", daemon=True
        ).start()

    def load(self, sensors_seen: list[str] | None = None) -> None:
        """Load the champion (as batch serving does) and the static site tables; refill
        the reading window from the lake the first time. Never raises."""
        if not self.loading.acquire(blocking=False):
            return
        try:
            self._load(sensors_seen)
        except Exception as exc:  # nothing about the model stops the consumer
            self.champion = None
            first = (str(exc).splitlines() or [""])[0]
            self.state = f"rules only: model load failed: {type(exc).__name__}: {first}"[:300]
            log.error("site model: %s", self.state)
        finally:
            self.loading.release()

    def _load(self, sensors_seen: list[str] | None) -> None:
        from models.registry import ChampionUnavailable, champion_expected, serving_champion
        from riskwarn import domains
        from riskwarn.nowcast import model_level_policy
        from riskwarn.scoring import FeaturesMismatch, files_end_words, refused, served_data_end

        before = self.label
        try:
            champion: Champion = serving_champion(self.uri, self.domain, self.store)
        except ChampionUnavailable as exc:
            self.expected = champion_expected(self.uri, self.domain)
            what = "model unavailable" if self.expected else "no champion registered"
            state = f"rules only: {what} ({(str(exc).splitlines() or [''])[0][:200]})"
            if state != self.state:
                log.warning("site model: %s; the stream evaluates the sensor rules alone", state)
            self.state = state
            self.champion = None
            return
        # batch scoring's data-end rule (riskwarn.scoring.served_data_end, refuse_origin):
        # an end that cannot be read or changed since it was recorded refuses the model
        # here (audited, once per refusal); origins before it are refused in score()
        try:
            end = served_data_end(self.uri, self.domain, champion.version, self.store)
            why = end.words if end.at is None else files_end_words(champion, end)
        except Exception as exc:  # the registry cannot say what the version saw
            first = (str(exc).splitlines() or [""])[0]
            self._rules_only(
                f"cannot read the training data end of {champion.name} v{champion.version}: "
                f"{type(exc).__name__}: {first}"
            )
            return
        if why is not None:  # unreadable, changed since recorded, or below its own fit's
            self._rules_only(f"refused over its training data end: {why}", champion, why)
            return
        self.policy = model_level_policy(champion, domains.get(self.domain).levels)
        self._read_tables()
        if not self.warmed:
            self._warm_up(sensors_seen or [])
        try:
            self._warm_code(champion)
        except FeaturesMismatch as exc:  # refused as batch scoring refuses it (audited)
            error = refused(self.store, champion, exc)
            state = f"rules only: {str(error).splitlines()[0][:200]}"
            if state != self.state:
                log.error("site model: %s; the stream evaluates the sensor rules alone", state)
            self.expected, self.state, self.champion = True, state, None
            return
        self.data_end, self.champion = end, champion  # its end first: score() reads both
        self.state = f"{champion.name} v{champion.version}"
        if self.state != before:
            self.last.clear()
            self.in_sample, self.in_sample_steps = None, 0  # said of the model served before
            log.info("site model %s serving on the stream (with the sensor rules)", self.state)

    def _rules_only(self, why: str, champion: Champion | None = None, audit: str = "") -> None:
        """No model served: the sensor rules alone, ``why`` in the status and the log once
        per refusal; with ``champion``, the refusal audited ``champion_refused`` (once)."""
        from riskwarn.scoring import audit_data_end_refusal

        state = f"rules only: {why}"[:300]
        if state != self.state:
            if champion is not None:
                audit_data_end_refusal(self.store, self.domain, champion.version, audit)
            log.error("site model: %s; the stream evaluates the sensor rules alone", state)
        self.expected, self.state, self.champion, self.data_end = True, state, None, None

    def _read_tables(self) -> None:
        from features.geohazard import site_gauges
        from riskwarn import lake

        self.lake_sites = lake.read_table(self.lake_dir, "hazard_sites")
        self.lake_sensors = lake.read_table(self.lake_dir, "sensors")
        sites, sensors = self.tables(set())
        self.gauge_of = {str(k): str(v) for k, v in site_gauges(sites, sensors).dropna().items()}
        self.gauge_size = (len(sites), len(sensors))

    def _warm_up(self, sensor_ids: list[str]) -> None:
        """Refill the window from the lake (after a restart: the readings of the last
        ``lookback_days`` of the sensors seen before and of the sites' rain gauges)."""
        from riskwarn import lake

        ids = sorted(set(sensor_ids) | set(self.gauge_of.values()))
        self.warmed = True
        if not ids:
            return
        got = lake.read_table(
            self.lake_dir,
            "sensor_readings",
            columns=_READING_COLUMNS,
            where={"sensor_id": ids},
            start=pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=self.lookback_days + 1),
        )
        self.window.add(got)
        log.info("site model: window refilled with %d readings from the lake", len(got))

    def _warm_code(self, champion: Champion) -> None:
        """Build one model input of a made-up site here, in the loading thread: the first
        call imports the feature code (tens of seconds on a loaded machine), which must
        not happen in the consumer's loop; so does the champion's first prediction.
        A champion taking features no site frame has raises
        :class:`riskwarn.scoring.FeaturesMismatch` here (it is refused, :meth:`_load`)."""
        from riskwarn.scoring import FeaturesMismatch

        t = pd.date_range("2026-01-01", periods=48, freq="1h", tz="UTC")
        readings = pd.DataFrame(
            {
                "sensor_id": "_warm",
                "observed_at": t,
                "interval_s": 0,
                "quantity": "displacement_mm",
                "value": np.linspace(0.0, 1.0, len(t)),
                "quality": "good",
            }
        )
        from riskwarn.contracts import TABLES, conform

        sites = conform(
            pd.DataFrame({"record_id": ["_warm"], "hazard_type": ["landslide"]}).reindex(
                columns=TABLES["hazard_sites"].columns
            ),
            TABLES["hazard_sites"],
        )
        sensors = conform(
            pd.DataFrame(
                {"record_id": ["_warm"], "site_id": ["_warm"], "sensor_type": ["gnss"]}
            ).reindex(columns=TABLES["sensors"].columns),
            TABLES["sensors"],
        )
        t0 = time.perf_counter()
        try:
            self._predict(champion, (sites, sensors, readings), t[-1], "_warm", 0)
        except FeaturesMismatch:
            raise
        except Exception as exc:  # only a warm-up: the real inputs say what is wrong
            log.info("site model warm-up: %s", exc)
        log.info("site model code warmed up in %.1f s", time.perf_counter() - t0)

    # -- readings -----------------------------------------------------------------------

    def add(self, readings: pd.DataFrame, sites: dict[str, str | None]) -> None:
        """Accepted readings of a micro-batch (every quantity) and their topics' sites."""
        if readings.empty:
            return
        self.window.add(readings)
        for sid in set(readings["sensor_id"].astype(str)) - set(self.topic_sites):
            self.topic_sites[sid] = sites.get(sid)
            q = readings.loc[readings["sensor_id"] == sid, "quantity"].iloc[0]
            self.sensor_quantity[sid] = str(q)

    def tables(self, site_ids: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The lake's hazard sites and sensors, plus rows made from the topics for the
        sites and sensors the lake does not list (site unknown: no location, so no
        nearest gauge; sensor type from its quantity)."""
        from riskwarn.contracts import TABLES, conform

        sites, sensors = self.lake_sites, self.lake_sensors
        known_sites = set(sites["record_id"].astype(str)) if len(sites) else set()
        extra_sites = sorted((site_ids | {s for s in self.topic_sites.values() if s}) - known_sites)
        known_sensors = set(sensors["record_id"].astype(str)) if len(sensors) else set()
        extra_sensors = [
            (sid, site, QUANTITY_SENSOR_TYPE.get(self.sensor_quantity.get(sid, ""), "other"))
            for sid, site in sorted(self.topic_sites.items())
            if sid not in known_sensors
        ]
        if extra_sites:
            add = conform(
                pd.DataFrame({"record_id": extra_sites, "hazard_type": "landslide"}).reindex(
                    columns=TABLES["hazard_sites"].columns
                ),
                TABLES["hazard_sites"],
            )
            sites = add if sites.empty else pd.concat([sites, add], ignore_index=True)
        if extra_sensors:
            add = conform(
                pd.DataFrame(
                    extra_sensors, columns=["record_id", "site_id", "sensor_type"]
                ).reindex(columns=TABLES["sensors"].columns),
                TABLES["sensors"],
            )
            sensors = add if sensors.empty else pd.concat([sensors, add], ignore_index=True)
        return sites, sensors

    # -- scoring ------------------------------------------------------------------------

    def model_input(self, site_ids: list[str], origin: pd.Timestamp) -> pd.DataFrame:
        """The model input of ``site_ids`` at ``origin``: batch serving's
        :func:`riskwarn.serving_frames.site_model_frame` on :meth:`inputs`."""
        from riskwarn import serving_frames as sf

        mine, sens, readings = self.inputs(site_ids, origin)
        return sf.site_model_frame(mine, sens, readings, origin, self.domain, self.tz)

    def inputs(
        self, site_ids: list[str], origin: pd.Timestamp
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(sites, sensors, readings) for the model at ``origin``: the sites, their sensors
        and the rain gauge batch serving picks for each (from all sites and gauges), with
        the window's readings of ``[origin - lookback, origin)``."""
        from features.geohazard import site_gauges

        sites, sensors = self.tables(set(site_ids))
        size = (len(sites), len(sensors))
        if size != self.gauge_size:  # batch serving's pick, from all sites and gauges
            self.gauge_of = {
                str(k): str(v) for k, v in site_gauges(sites, sensors).dropna().items()
            }
            self.gauge_size = size
        gauge_of = self.gauge_of
        mine = sites.loc[sites["record_id"].astype(str).isin(site_ids)]
        picked = {gauge_of[s] for s in site_ids if s in gauge_of}
        sens = sensors.loc[
            sensors["site_id"].astype(str).isin(site_ids) | sensors["record_id"].isin(picked)
        ]
        # a gauge of another site serves this one as the nearest: batch serving's pick
        # is kept by giving the subset that gauge only (the sites' own gauges come first)
        readings = self.window.frame(
            list(sens["record_id"].astype(str)), origin, self.lookback_days
        )
        return mine, sens, readings

    def _predict(
        self,
        champion: Champion,
        inputs: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
        origin: pd.Timestamp,
        site: str,
        previous_rank: int,
    ) -> tuple[float, list[Any], int]:
        """Probability (NaN: the model does not apply to the site), its reasons and the
        model's level, through batch serving's entry
        (:func:`riskwarn.nowcast.serve_site_model`) and ``assign_levels``."""
        from riskwarn import warnings as rw
        from riskwarn.nowcast import serve_site_model

        # inputs the lake cannot give (no rain gauge: no rain columns) are NaN there and
        # a champion that cannot score NaN refuses the site with the reason; any other
        # error ends in score(): the rules go on alone
        mine, sens, readings = inputs
        served = serve_site_model(champion, mine, sens, readings, origin, self.domain, self.tz)
        p = float(served["probability"].iloc[0])
        explanation = list(served["reason_items"].iloc[0])
        prev = pd.DataFrame({"unit_id": [site], "level_rank": [int(previous_rank)]})
        lv = rw.assign_levels(
            pd.DataFrame({"unit_id": [site], "probability": [p]}), self.policy, prev
        )
        return p, list(explanation), int(lv["level_rank"].iloc[0])

    def score(self, site: str, origin: pd.Timestamp, previous_rank: int) -> ModelScore | None:
        """The model's score of ``site`` at ``origin`` (None: no champion, or scoring
        failed: the sensor rules alone). At most once per ``every_s`` per site; in
        between, the site's last score."""

        champion = self.champion
        if champion is None:
            return None
        end = self.data_end
        from riskwarn.scoring import in_sample_at  # batch scoring's rule (loaded by _load)

        if end is not None and in_sample_at(end, origin):
            self.in_sample_steps += 1
            if self.in_sample is None:
                log.warning(
                    "site model %s: trained on data to %s, after the origin %s (a replay of "
                    "older readings?): its forecast there would be in-sample; those steps "
                    "are evaluated by the sensor rules alone",
                    self.label,
                    end.at,
                    origin,
                )
            self.in_sample = (
                f"origins before {end.at:%Y-%m-%d %H:%M}Z are in-sample for it: "
                "sensor rules only there"
            )
            return None
        now = self.clock()
        got = self.last.get(site)
        if got is not None and now - got[0] < self.every_s and got[1].origin <= origin:
            return got[1]
        t0 = time.perf_counter()
        try:
            inputs = self.inputs([site], origin)
            if inputs[0].empty:
                return None
            p, explanation, rank = self._predict(champion, inputs, origin, site, previous_rank)
        except Exception as exc:  # the rules go on without the model
            text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if self.failing is None:
                log.error("site model scoring failed (%s); sensor rules only meanwhile", text)
            self.failing = text[:200]
            return None
        if self.failing is not None:
            log.warning("site model scoring works again")
            self.failing = None
        cost = time.perf_counter() - t0
        self.evaluations += 1
        self.eval_s += cost
        out = ModelScore(p, rank, explanation, origin, self.label or "", cost)
        self.last[site] = (now, out)
        return out
