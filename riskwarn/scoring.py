"""Serve a domain: read -> frame -> predict -> levels -> write, keyed on the origin.

:func:`score_domain` is the whole road for a forecast origin:

1. load the domain's verified champion (:func:`models.registry.serving_champion`; it
   fails loudly with ``ChampionUnavailable`` before anything is written, so the last
   published run stays in service);
2. build the frame from what the lake knew before the origin
   (:func:`riskwarn.serving_frames.scoring_frame`: the builder training uses);
3. predict calibrated probabilities (:func:`predict_probability`);
4. derive levels through the domain's :class:`~riskwarn.domains.LevelPolicy`
   (thresholds, hysteresis against the previous run *before this origin*, county
   capacity; :mod:`riskwarn.warnings`) with reasons (:mod:`riskwarn.reasons`);
5. stage, write and publish the run through :class:`riskwarn.store.Store`
   (:func:`write_run`).

Everything is keyed on the origin (the data interval), never on the clock, so
re-running a date rewrites identical rows. The hourly geohazard nowcast, which adds
the sensor rules, is :mod:`riskwarn.nowcast`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskwarn import domains, sensor_rules
from riskwarn import warnings as rw
from riskwarn.reasons import model_explanations, site_model_reasons
from riskwarn.serving_frames import scoring_frame, site_model_frame

if TYPE_CHECKING:
    from models.registry import Champion, DataEnd
    from riskwarn.settings import Settings
    from riskwarn.store import Store

log = logging.getLogger(__name__)


def utc(ts: Any) -> pd.Timestamp:
    """A UTC timestamp from anything pandas understands (naive = UTC)."""
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def run_id_for(domain: str, origin: pd.Timestamp) -> str:
    """Deterministic run id ``{domain}:{origin:%Y%m%dT%H%MZ}`` (STORE_API.md)."""
    return f"{domain}:{utc(origin):%Y%m%dT%H%MZ}"


class FeaturesMismatch(ValueError):
    """The champion takes features the domain's scoring frame does not have (e.g. a model
    of another domain's run promoted under this domain's name)."""


def missing_features(
    champion: Champion, columns: Any, may_be_unknown: frozenset[str] = frozenset()
) -> list[str]:
    """The champion's features absent from ``columns`` that are in ``may_be_unknown``
    (inputs the lake may be unable to give, scored as unknown by the caller);
    :class:`FeaturesMismatch` if any other feature is absent: the champion does not fit the
    domain's frame (e.g. a model of another domain's run). The one check of every family
    (:func:`predict_probability`, :func:`serve_site_model`)."""
    have = set(columns)
    missing = [c for c in champion.feature_names or [] if c not in have]
    foreign = [c for c in missing if c not in may_be_unknown]
    if foreign:
        raise FeaturesMismatch(
            f"the scoring frame of {champion.domain} lacks the champion's features {foreign[:5]}"
        )
    return missing


# The case and site models count their label windows in hours from a local midnight
# (30 x 24 h, 24 h): across a spring-forward their last window ends one hour after the
# local midnight its days name, so the scheduled run's origin (that midnight) would be
# refused in a zone with daylight saving (review stop 37: America/Chicago, 2025-03-17).
# One hour, at most once a year, is tolerated; an older origin is still refused.
DST_TOLERANCE = pd.Timedelta(hours=1)


class InSampleOrigin(ValueError):
    """The champion was trained on data after the origin (its ``trained_through`` is later:
    labels of this origin's window were among its training rows), so its forecast there
    would be in-sample: a backfill that looks better than any forecast made at the time."""


class UnknownDataEnd(ValueError):
    """The champion's training data end cannot be read (its version records none, and its
    MLflow run logged none or is gone), or differs from the one riskwarn recorded when it
    promoted it (a ``riskwarn.trained_through`` tag edited since): whether an origin is
    in-sample cannot be told, so the champion is refused at every origin, never let
    through (:func:`models.registry.data_end`; attack reviews 2026-12-07)."""


def served_data_end(uri: str, domain: str, version: str, store: Store | None = None) -> DataEnd:
    """The training data end ``domain``'s version ``version`` is served on: the one read of
    batch scoring, the hourly nowcast and the stream (:func:`models.registry.data_end`,
    held, with ``store``, to the end riskwarn recorded when it promoted the version, or
    first read when it served it: :func:`models.registry.note_first_seen_end`)."""
    from mlflow import MlflowClient

    from models.registry import data_end, model_name, note_first_seen_end, recorded_champion

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    record = recorded_champion(store, model_name(domain)) if store is not None else None
    end = data_end(client, domain, version, record)
    if store is not None and record is not None:
        note_first_seen_end(store, model_name(domain), record, end)
    return end


def in_sample_at(end: DataEnd, origin: pd.Timestamp) -> bool:
    """Whether a forecast at ``origin`` would be in-sample for a version served on
    ``end`` (its data end is known: ``end.at``): the origin lies before its data end,
    beyond :data:`DST_TOLERANCE`."""
    return end.at is not None and utc(origin) < end.at - DST_TOLERANCE


def refuse_origin(domain: str, version: str, end: DataEnd, origin: pd.Timestamp) -> None:
    """:class:`UnknownDataEnd` when ``end`` has a problem (no data end can be read, or it
    differs from the recorded one), :class:`InSampleOrigin` when ``origin`` lies before
    it; nothing otherwise. The one rule of batch scoring, the nowcast and the stream."""
    from models.registry import model_name

    if end.at is None:
        raise UnknownDataEnd(end.words)
    if not in_sample_at(end, origin):
        return
    raise InSampleOrigin(
        f"{model_name(domain)} v{version} was trained on data to {end.at:%Y-%m-%d %H:%M}Z, "
        f"after the origin {utc(origin):%Y-%m-%d %H:%M}Z: its forecast there would be "
        "in-sample, not a forecast (score origins from that date on, or serve a version "
        "trained before the origin first: riskwarn rollback / promote --force, audited)"
    )


def out_of_sample(
    uri: str, domain: str, version: str, origin: pd.Timestamp, store: Store | None = None
) -> DataEnd:
    """:class:`InSampleOrigin` unless ``domain``'s version ``version`` was trained on data
    that end at or before ``origin`` (labels at or after its end were never seen).

    The end is :func:`served_data_end`'s (:func:`models.registry.data_end`), the rule the
    dashboard's models page shows too: the version's ``riskwarn.trained_through`` tag
    (written at registration since 2026-12-07; it outlives the run), its run's
    ``trained_through`` param and zoned ``trained_until`` (the latest of them); held, with
    ``store``, to the end riskwarn recorded when it promoted the version (or first read
    when it served a version promoted before 2026-12-07). :class:`UnknownDataEnd` when
    none can be read (a version registered by hand or by an older riskwarn whose run
    logged none, or whose run is gone) or it differs from the recorded one. Airflow's
    scheduled runs score the newest local midnight, after the training data of any model
    trained by then (``trained_through`` is at least one horizon before training's
    ``as_of``). Returns the end read."""
    end = served_data_end(uri, domain, version, store)
    refuse_origin(domain, version, end, origin)
    return end


def _alias_version(uri: str, domain: str) -> str | None:
    """The version the champion alias points at now (None: no champion; then
    :func:`models.registry.serving_champion` says so). A registry that cannot be read is
    :class:`models.registry.ChampionUnavailable` at once, worded as serving_champion's:
    returning None here let serving_champion wait out MLflow's retries a second time (a
    DAG task failed after twice the wait: review stop 37)."""
    from mlflow import MlflowClient

    from models.registry import CHAMPION, ChampionUnavailable, champion_version, model_name
    from riskwarn.redact import redact

    try:
        return champion_version(MlflowClient(tracking_uri=uri, registry_uri=uri), domain)
    except Exception as exc:  # registry down, or refusing: one line, as serving_champion's
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ChampionUnavailable(
            redact(
                f"cannot load champion model {model_name(domain)}@{CHAMPION} from {uri}: "
                f"{type(exc).__name__}: {first}"
            )
        ) from exc


def audit_data_end_refusal(store: Store, domain: str, version: str, words: str) -> None:
    """``champion_refused`` in the audit log for a version refused over its data end
    (:class:`UnknownDataEnd`'s words): batch scoring's, the nowcast's and the stream's."""
    from models.registry import model_name

    store.audit(
        "pipeline",
        "champion_refused",
        "model",
        model_name(domain),
        {"reason": words, "version": version},
    )


def _refuse_in_sample(
    uri: str, domain: str, version: str, origin: pd.Timestamp, store: Store | None = None
) -> DataEnd:
    """:func:`out_of_sample` as a :class:`models.registry.ChampionUnavailable` (caused by
    :class:`InSampleOrigin` or :class:`UnknownDataEnd`: the CLI's one line, exit 2). A
    champion whose data end cannot be read is a champion refused, audited as
    ``champion_refused`` in ``store``."""
    from mlflow.exceptions import MlflowException

    from models.registry import ChampionUnavailable, model_name

    try:
        return out_of_sample(uri, domain, version, origin, store)
    except InSampleOrigin as exc:
        raise ChampionUnavailable(f"refusing to score {domain}: {exc}") from exc
    except UnknownDataEnd as exc:
        if store is not None:
            audit_data_end_refusal(store, domain, version, str(exc))
        raise ChampionUnavailable(f"refusing to score {domain}: {exc}") from exc
    except MlflowException as exc:  # the registry cannot say what the version saw
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ChampionUnavailable(
            f"cannot read the training data end of {model_name(domain)} v{version}: {first}"
        ) from exc


def champion_at(
    uri: str, domain: str, origin: pd.Timestamp, store: Store, tz: str | None = None
) -> Champion:
    """``domain``'s verified champion (:func:`models.registry.serving_champion`), refused
    at ``origin`` as :func:`out_of_sample` refuses it (:class:`models.registry.
    ChampionUnavailable` caused by :class:`InSampleOrigin` or :class:`UnknownDataEnd`, the
    latter audited ``champion_refused``). The alias's version's data end is read before
    the champion is downloaded and unpickled, and again if the alias moved meanwhile. One
    road for batch scoring (:func:`score_domain`) and the hourly nowcast
    (:func:`riskwarn.nowcast.nowcast_geohazard`). ``tz``: also refuse a version trained in
    another time zone (:func:`_refuse_other_tz`; batch scoring passes its settings' zone)."""
    from models.registry import ChampionUnavailable, serving_champion

    checked = _alias_version(uri, domain)
    end = None if checked is None else _refuse_in_sample(uri, domain, checked, origin, store)
    if checked is not None and tz is not None:
        _refuse_other_tz(uri, domain, checked, tz, store)
    champion = serving_champion(uri, domain, store)
    if end is None or champion.version != checked:  # the alias moved meanwhile
        end = _refuse_in_sample(uri, domain, champion.version, origin, store)
        if tz is not None:
            _refuse_other_tz(uri, domain, champion.version, tz, store)
    understated = files_end_words(champion, end)
    if understated is not None:  # its own files were fit on later data than it says
        audit_data_end_refusal(store, domain, champion.version, understated)
        raise ChampionUnavailable(f"refusing to score {domain}: {understated}")
    return champion


def files_end(champion: Champion) -> pd.Timestamp | None:
    """The final fit's origin the champion's own model files hold (``trained_until`` of a
    riskwarn model's fitted booster, with its zone; None when the files do not say: a
    model not trained by riskwarn). The files are the ones checked against the digest
    recorded at promotion, so no tag edit reaches it."""
    from models.registry import _aware

    fitted = getattr(champion.python_model(), "fitted", None)
    until = getattr(fitted, "trained_until", None)
    return None if until is None else _aware(str(until))


def files_end_words(champion: Champion, end: DataEnd) -> str | None:
    """Why the champion is refused when its own files (:func:`files_end`) were fit on data
    later than the end it is served on (``end``: a ``riskwarn.trained_through`` tag moved
    earlier before its promotion, its run gone, so its record holds the edited end and
    nothing else could tell); None otherwise. Read after the verified files are loaded,
    at no extra cost: batch scoring, the nowcast and the stream alike."""
    own = files_end(champion)
    if own is None or end.at is None or own <= end.at + DST_TOLERANCE:
        return None
    from models.registry import TRAINED_THROUGH_TAG, iso_utc

    name = f"{champion.name} v{champion.version}"
    return (
        f"{name} is served on a training data end of {iso_utc(end.at)}, but its own model "
        f"files were fit on data to {iso_utc(own)}: its {TRAINED_THROUGH_TAG} tag was moved "
        "earlier before it was promoted; not serving it (tag the version "
        f"{TRAINED_THROUGH_TAG}={iso_utc(own)} in the MLflow UI, then `riskwarn promote "
        f"{champion.domain} {champion.version} --force --reason ...` to record it)"
    )


class OtherTimeZone(ValueError):
    """The champion's rows were built in another local time zone than the one scoring
    builds its inputs in (``Settings.display_tz``): its origins, label days and night
    hours were other days and hours, so the inputs it is served are not the ones it
    learned (attack review 2026-12-08: trained ``--tz UTC``, promoted ``--force``, it was
    scored on the city's UTC+8 inputs without a word)."""


def same_time_zone(uri: str, domain: str, version: str, tz: str) -> None:
    """:class:`OtherTimeZone` unless every zone ``domain``'s version ``version`` records
    (:func:`models.registry.trained_tz`: its ``riskwarn.tz`` tag, its run's ``tz`` param,
    else its run's ``recipe.json``) is ``tz``. A version that records none (registered by
    hand, or before recipes) is served as built in ``tz``: nothing says otherwise."""
    from mlflow import MlflowClient

    from models.registry import model_name, trained_tz

    got = trained_tz(MlflowClient(tracking_uri=uri, registry_uri=uri), domain, version)
    if not got.differs_from(tz):
        return
    zones = ", ".join(got.zones)
    raise OtherTimeZone(
        f"{model_name(domain)} v{version} was trained in time zone {zones}, but scoring "
        f"builds its inputs in {tz} (RISKWARN_DISPLAY_TZ): its local days and hours would "
        f"not be the ones it learned (retrain with --tz {tz}, or serve another version: "
        f"riskwarn rollback) / {model_name(domain)} v{version} 的训练时区为 {zones}，"
        f"而评分按 {tz} 构建输入：本地日期与时段与训练时不同，拒绝评分（请以 --tz {tz} "
        "重新训练，或回滚至其他版本）"
    )


def _refuse_other_tz(
    uri: str, domain: str, version: str, tz: str, store: Store | None = None
) -> None:
    """:func:`same_time_zone` as a :class:`models.registry.ChampionUnavailable` (caused by
    :class:`OtherTimeZone`: the CLI's one line, exit 2), audited as ``champion_refused``
    in ``store``; beside :func:`_refuse_in_sample`, before the champion is loaded."""
    from mlflow.exceptions import MlflowException

    from models.registry import ChampionUnavailable, model_name

    try:
        same_time_zone(uri, domain, version, tz)
    except OtherTimeZone as exc:
        if store is not None:
            store.audit(
                "pipeline",
                "champion_refused",
                "model",
                model_name(domain),
                {"reason": str(exc), "version": version, "refusal": "other_time_zone"},
            )
        raise ChampionUnavailable(f"refusing to score {domain}: {exc}") from exc
    except MlflowException as exc:  # the registry cannot say what zone the version saw
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ChampionUnavailable(
            f"cannot read the time zone of {model_name(domain)} v{version}: {first}"
        ) from exc


def run_deleted_note(uri: str, champion: Champion) -> str | None:
    """One line when the champion's MLflow run was deleted, else None.

    Served all the same: its model files were just checked against the digest riskwarn
    recorded when it was promoted, and its data end is read from its version's tags (or
    refused when unreadable: :class:`UnknownDataEnd`); refusing would turn a run's
    deletion into no forecast at all. But its files may be removed at any time (``mlflow
    gc``), and then it cannot be served: said at every scoring, so someone acts first."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from models.registry import version_run

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        run_id = client.get_model_version(champion.name, champion.version).run_id
        _, deleted = version_run(client, run_id)
    except MlflowException:  # the registry could not say: the files served were verified
        return None
    if not deleted:
        return None
    return (
        f"{champion.name} v{champion.version} serves, but its MLflow run {run_id} was "
        "deleted: its model files may be removed at any time (mlflow gc), and then nothing "
        "serves; restore the run (mlflow runs restore) or promote another version"
    )


class SourcesMismatch(ValueError):
    """The champion cannot be served on the sources it was trained on: one of them is no
    longer in the lake, or the lake holds several and the model does not record which it
    learned from (a model logged before 2026-12-07)."""


def served_sources(
    settings: Settings, domain: str, champion: Champion
) -> tuple[tuple[str, ...] | None, str | None]:
    """The lake sources ``domain``'s champion is served on, and what to say about it.

    Train and serve on the same sources: a hotspot or case champion's frame is built from
    exactly the sources it was trained on (:attr:`models.registry.Champion.sources`,
    recorded at training), never from a source ingested after it (a second department
    delivering the same events would double every count it learned from). A source in
    the lake the model never learned from is left out, and the second value says so in
    one line (None when there is nothing to say). :class:`SourcesMismatch` when a
    training source is no longer in the lake (its counts would fall below what it learned:
    refused, not scored low), or when the model records no sources and the lake holds
    several (which it learned from is unknown). A model recording none on a lake of one
    source is served on it (it can have learned from no other). Sites: (None, None)."""
    from riskwarn import lake

    spec = domains.get(domain)
    if spec.family == "site":
        return None, None
    table = spec.event_table
    in_lake = lake.sources(settings.lake_dir, table)  # the Delta log's partitions: no row read
    trained = champion.sources
    who = f"{champion.name} v{champion.version}"
    if trained is None:
        if len(in_lake) <= 1:
            return None, None
        raise SourcesMismatch(
            f"{who} does not record the sources it was trained on (a model logged before "
            f"2026-12-07) and the lake's {table} holds several ({', '.join(in_lake)}): not "
            f"scored on sources it may never have learned from; retrain it "
            f"(riskwarn train {domain})"
        )
    missing = [x for x in trained if x not in in_lake]
    if missing:
        raise SourcesMismatch(
            f"{who} was trained on the source(s) {', '.join(trained)}, and "
            f"{', '.join(missing)} is no longer in the lake's {table}: its inputs would "
            f"miss counts it learned from; ingest it again or retrain (riskwarn train {domain})"
        )
    extra = [x for x in in_lake if x not in trained]
    if not extra:
        return trained, None
    return trained, (
        f"{domain}: not served: {', '.join(extra)} (in the lake's {table}; {who} was "
        f"trained on {', '.join(trained)} only and is scored on it alone; train a new "
        f"model to use them)"
    )


class StaleData(ValueError):
    """A source the domain is served on has no record known at the origin within the
    domain's maximum data age (``Settings.max_data_age_days``): a feed that stopped
    would be read as zero events (or no readings) and published as calm."""


def _newest_known(
    settings: Settings,
    table: str,
    origin: pd.Timestamp,
    sources: Sequence[str],
    start: pd.Timestamp | None,
) -> dict[str, pd.Timestamp]:
    """Per source of ``sources``, the event time of its newest record of ``table`` known
    before ``origin`` (event time, and ``reported_at`` where the table has one, before it:
    :func:`features.cells.known_times`, the read of every frame builder), among the
    records whose event time is at or after ``start`` (None: all). Sources without one
    are absent. Current versions of corrected records (columns read only: cheap)."""
    from features.cells import known_times
    from riskwarn import lake
    from riskwarn.contracts import TABLES

    tbl = TABLES[table]
    time_col = str(tbl.time_column)
    cols = ["source", time_col, *(["reported_at"] if "reported_at" in tbl.columns else [])]
    got = lake.read_table(
        settings.lake_dir, table, sources=list(sources), columns=cols, start=start, end=origin
    )
    if got.empty:
        return {}
    got = got.loc[(known_times(got, time_col) < origin).to_numpy()]
    newest = pd.to_datetime(got[time_col], utc=True).groupby(got["source"].astype(str)).max()
    return {str(k): utc(v) for k, v in newest.items() if pd.notna(v)}


def data_ages(
    settings: Settings,
    domain: str,
    origin: pd.Timestamp,
    sources: Sequence[str] | None,
    sensors: pd.DataFrame | None = None,
) -> tuple[dict[tuple[str, str], pd.Timestamp | None], list[tuple[str, str]]]:
    """The newest record known at ``origin`` of each (table, source) ``domain`` is served
    on (None: none known), and the pairs older than the domain's maximum data age
    (``Settings.max_data_age_days``), as :func:`check_data_age` judges them.

    A hotspot or case domain: its event table's records of ``sources`` (None: every
    source in the lake; a champion's training sources, :func:`served_sources`), and those
    of each table of its ``also_fresh`` (a case's events). A site domain: the sensor
    readings of each source of the site sensors known at the origin (``sensors``), looked
    for over the serving read (``serving_lookback_days``); a single silent sensor is the
    nowcast's dead-sensor rule's, not this check's. Domains without a maximum (the hourly
    nowcast) are not judged: ({}, [])."""
    from riskwarn import lake

    spec = domains.get(domain)
    limit = settings.max_data_age_days.get(domain)
    if limit is None:
        return {}, []
    cutoff = origin - pd.Timedelta(days=limit)
    if spec.family == "site":
        s = sensors if sensors is not None else pd.DataFrame()
        on_site = s.loc[s["site_id"].notna(), "source"] if {"source", "site_id"} <= set(s) else []
        checked = {"sensor_readings": sorted({str(x) for x in pd.Series(on_site).dropna()})}
    else:
        # every source in the lake from the Delta log's partitions (no row read)
        checked = {
            table: lake.sources(settings.lake_dir, table) if sources is None else list(sources)
            for table in (spec.event_table, *spec.also_fresh)
        }
    newest: dict[tuple[str, str], pd.Timestamp | None] = {}
    stale: list[tuple[str, str]] = []
    for table, expected in checked.items():
        if not expected:
            continue
        got: dict[str, pd.Timestamp | None] = dict.fromkeys(expected)
        got.update(_newest_known(settings, table, origin, expected, cutoff))
        late = [x for x in expected if got[x] is None]
        if late:  # only then the longer read, to say how old they are
            from riskwarn.serving_frames import serving_lookback_days

            start = (
                origin - pd.Timedelta(days=serving_lookback_days(settings))
                if spec.family == "site"
                else None
            )
            got.update(_newest_known(settings, table, origin, late, start))
        newest.update({(table, x): t for x, t in got.items()})
        stale += [(table, x) for x in late]
    return newest, stale


def data_age_text(
    settings: Settings,
    domain: str,
    origin: pd.Timestamp,
    newest: dict[tuple[str, str], pd.Timestamp | None],
    stale: Sequence[tuple[str, str]],
) -> str:
    """One line naming each stale (table, source), its newest record known at ``origin``
    and its age."""
    spec = domains.get(domain)
    what = "sensor reading" if spec.family == "site" else "record"
    limit = settings.max_data_age_days[domain]
    parts = []
    for table, x in stale:
        t = newest.get((table, x))
        if t is None:
            span = (
                f"in the {settings.serving_lookback_days} days before it"
                if spec.family == "site"
                else "before it"
            )
            parts.append(f"source {x} has no {what} of {table} known at the origin {span}")
        else:
            age = (origin - t) / pd.Timedelta(days=1)
            parts.append(
                f"source {x}'s newest {what} of {table} known at the origin is of "
                f"{t:%Y-%m-%d %H:%M}Z, {age:.1f} days before it"
            )
    return (
        f"stale data for {domain} at {origin:%Y-%m-%d %H:%M}Z: {'; '.join(parts)} (at most "
        f"{limit:g} days allowed: max_data_age_days, RISKWARN_MAX_DATA_AGE_DAYS); a feed that "
        "stopped would be scored as no events"
    )


def check_data_age(
    settings: Settings,
    store: Store,
    domain: str,
    origin: pd.Timestamp,
    sources: Sequence[str] | None,
    *,
    sensors: pd.DataFrame | None = None,
    allow_stale: bool = False,
    say: Callable[[str], None] | None = None,
) -> None:
    """Refuse to score ``domain`` at ``origin`` on stale data: :class:`StaleData` (one
    line: :func:`data_age_text`), audited ``stale_data_refused``, before anything is
    written, when a source it is served on has no record known at the origin within
    ``Settings.max_data_age_days`` of it (:func:`data_ages`: the known-at read of the
    scoring, so a backfill of an old origin is judged on what existed then).
    ``allow_stale`` (``riskwarn score --allow-stale-data``): scored anyway, audited
    ``stale_data_allowed`` and said (``say``, else a logged warning). The audit's
    ``newest`` names a stale source of the domain's own table by the source alone, one
    of another table (``Domain.also_fresh``) as ``table:source``."""
    newest, stale = data_ages(settings, domain, origin, sources, sensors)
    if not stale:
        return
    text = data_age_text(settings, domain, origin, newest, stale)
    spec = domains.get(domain)
    own = "sensor_readings" if spec.family == "site" else spec.event_table
    details = {
        "reason": text,
        "origin": origin.isoformat(),
        "max_data_age_days": settings.max_data_age_days[domain],
        "newest": {
            (x if table == own else f"{table}:{x}"): (
                None if (t := newest[table, x]) is None else t.isoformat()
            )
            for table, x in stale
        },
    }
    if not allow_stale:
        store.audit("pipeline", "stale_data_refused", "domain", domain, details)
        raise StaleData(
            f"refusing to score {text}; nothing written (score anyway with "
            "riskwarn score --allow-stale-data, audited, if the source is known to be quiet)"
        )
    store.audit("pipeline", "stale_data_allowed", "domain", domain, details)
    line = f"scoring anyway (--allow-stale-data, audited): {text}"
    if say is not None:
        say(line)
        log.info("%s", line)
    else:
        log.warning("%s", line)


def refused(store: Store, champion: Champion, exc: FeaturesMismatch | SourcesMismatch) -> Exception:
    """The :class:`models.registry.ChampionUnavailable` to raise (``from exc``) for a
    champion whose features the domain's frame lacks (or whose training sources it
    cannot be served on: :func:`served_sources`), audited as ``champion_refused``
    (what the CLI turns into one line and exit 2; hotspot, case and site scoring alike)."""
    from models.registry import ChampionUnavailable

    why = f"{champion.name} v{champion.version}: {exc}"
    store.audit("pipeline", "champion_refused", "model", champion.name, {"reason": why})
    return ChampionUnavailable(f"refusing to serve {why}")


def predict_probability(champion: Champion, frame: pd.DataFrame) -> np.ndarray:
    """Calibrated probabilities of the champion for every row of ``frame``
    (:class:`FeaturesMismatch` if the frame lacks one of the champion's features)."""
    cols = champion.feature_names or [c for c in frame.columns if not c.startswith("label_")]
    missing_features(champion, frame.columns)
    # cast to the champion's logged signature (counts arrive as ints, models take floats)
    out = champion.model.predict(frame[cols].astype(champion.feature_dtypes or float))
    if isinstance(out, pd.DataFrame):
        out = out["probability"] if "probability" in out else out.iloc[:, -1]
    p = np.asarray(out, dtype=float).reshape(len(frame), -1)[:, -1]
    if not np.isfinite(p).all():
        raise ValueError(f"the champion of {champion.domain} returned non-finite scores")
    return np.clip(p, 0.0, 1.0)


def data_version(frame: pd.DataFrame) -> str:
    """Short content hash of the scoring frame (same inputs -> same version)."""
    digest = hashlib.sha256(
        pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy().tobytes()
    )
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- levels (pure)


def forecasts_frame(
    units: pd.DataFrame,
    probability: np.ndarray,
    domain: str,
    origin: pd.Timestamp,
    score: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rows of the ``forecasts`` table; ``rank`` 1 = riskiest (ties by unit id)."""
    spec = domains.get(domain)
    f = pd.DataFrame(
        {
            "unit_type": spec.unit,
            "unit_id": units["unit_id"].astype(str).to_numpy(),
            "domain": domain,
            "origin": origin,
            "valid_to": origin + pd.Timedelta(hours=spec.horizon_hours),
            "score": probability if score is None else score,
            "probability": probability,
        }
    )
    for col in ("county_code", "township_code", "cell_x", "cell_y", "lon", "lat"):
        f[col] = units[col].to_numpy() if col in units else None
    f = f.sort_values(["score", "unit_id"], ascending=[False, True]).reset_index(drop=True)
    f["rank"] = np.arange(1, len(f) + 1)
    return f


def previous_run_warnings(store: Store, domain: str, origin: pd.Timestamp) -> pd.DataFrame:
    """The warnings of the latest published run of ``domain`` strictly before ``origin``
    (empty when there is none, or when it warned nobody).

    The run, not the latest warning: a run that raised no warning (every unit calm) is the
    previous run all the same, so a level it dropped is not held from an older run. Only
    runs before ``origin`` are read, so re-running an origin (a backfill) gives the same
    levels whatever was published after it. Shared by the daily scoring and the hourly
    nowcast (hysteresis for both).

    Only warnings still in force at ``origin`` (``valid_to`` after it) are returned: a
    level is held, not revived, so after a gap longer than the domain's horizon (a DAG
    paused for a month, sensors silent, services started on an old home) the run starts
    from its own levels instead of holding one judged on data that old.
    """
    runs = store.runs(domain)
    if not runs.empty:
        runs = runs.loc[runs["status"].isin(["published", "superseded"])]
        o = pd.to_datetime(runs["origin"], utc=True)
        runs = runs.loc[o < origin]
    if runs.empty:
        return pd.DataFrame(columns=["unit_id", "level_rank", "evidence"])
    latest = runs.loc[pd.to_datetime(runs["origin"], utc=True).idxmax(), "run_id"]
    w = store.warnings(domain=domain, published_only=False, run_ids=[str(latest)])
    if w.empty:
        return w
    return w.loc[pd.to_datetime(w["valid_to"], utc=True) > origin].reset_index(drop=True)


def previous_levels(previous: pd.DataFrame) -> pd.DataFrame:
    """``unit_id``, ``level_rank`` of the previous run's warnings (for hysteresis)."""
    if previous.empty:
        return pd.DataFrame(columns=["unit_id", "level_rank"])
    return previous[["unit_id", "level_rank"]].astype({"level_rank": int})


def issued_this_week(history: pd.DataFrame, origin: pd.Timestamp) -> dict[str, int]:
    """Orange+red warnings per county already issued in origin's ISO week, before origin."""
    if history.empty:
        return {}
    h = history.assign(origin=pd.to_datetime(history["origin"], utc=True))
    week_start = (origin.normalize() - pd.Timedelta(days=origin.weekday())).tz_convert("UTC")
    h = h.loc[(h["origin"] >= week_start) & (h["origin"] < origin) & (h["level_rank"] >= 3)]
    if h.empty:
        return {}
    # a unit warned on several days counts once
    h = h.drop_duplicates("unit_id")
    return h.groupby(h["county_code"].fillna(""))["unit_id"].count().astype(int).to_dict()


# --------------------------------------------------------------------------- site model


def serve_site_model(
    champion: Champion | None,
    sites: pd.DataFrame,
    sensors: pd.DataFrame,
    readings: pd.DataFrame,
    origin: pd.Timestamp,
    domain: str,
    tz: str,
    rules_served: bool = True,
) -> pd.DataFrame:
    """The site model's part of a served level, per site at ``origin`` (the one entry of
    batch nowcast and stream).

    ``readings`` hold only readings before ``origin`` (the serving window). A displacement
    sensor whose median reading spacing exceeds
    :func:`riskwarn.sensor_rules.max_model_spacing_hours` of the domain's step (e.g. a
    monthly survey point under the hourly model) is left out of the model's inputs; a
    site left with no displacement sensor the model may read, while it has one that
    reports, is not scored by the model at all (probability NaN, ``model_applicable``
    False): its level comes from the sensor rules and health checks, and its reasons
    say so. Returns one row per site in ``sites`` order: ``unit_id``, ``probability``
    (NaN where refused or without a champion), ``model_applicable``, ``spacing_hours``
    (the widest median spacing of the site's displacement sensors, NaN if unknown) and
    ``reason_items`` (the model's own reasons, or why it was not applied). If the lake
    cannot give some of the champion's inputs at all (no rain gauge: no rain columns,
    :func:`models.geohazard_sites.unknowable_inputs`), they are NaN (unknown) and the
    reasons say so; a champion that cannot score NaN is refused at every site with that
    reason (logged) instead of crashing. A champion taking any other input the site frame
    lacks does not fit the domain: :class:`FeaturesMismatch` (:func:`missing_features`, as
    in hotspot and case scoring), never scored on NaN.
    Batch nowcast, stream and daily serving (:func:`score_domain`, ``rules_served``
    False: the reasons then say the run gives no level, not "sensor rules only") call it.
    """
    from models.geohazard_sites import unknowable_inputs

    unit_ids = sites["record_id"].astype(str).tolist()
    step_hours = domains.get(domain).step_hours
    limit = sensor_rules.max_model_spacing_hours(step_hours)
    site_of = sensor_rules.displacement_site_of(sensors)
    # the one guard training's table goes through too (build_site_tables, per origin)
    model_readings, spacing, sparse_ids, refused = sensor_rules.model_readings(
        sensors, readings, origin, step_hours
    )
    sparse = spacing[sparse_ids]
    reasons: dict[str, list[Any]] = {u: [] for u in unit_ids}
    for u in set(site_of.reindex(sparse.index)):
        ids = sorted(s for s in sparse.index if site_of[s] == u)
        if u in reasons:
            reasons[u].append(
                sensor_rules.model_not_applicable_reason(
                    ids,
                    [float(sparse[s]) for s in ids],
                    limit,
                    whole_site=u in refused,
                    rules_served=rules_served,
                )
            )
    by_site = spacing.groupby(site_of.reindex(spacing.index)).max()
    prob = np.full(len(unit_ids), np.nan)
    if champion is not None:
        frame = site_model_frame(sites, sensors, model_readings, origin, domain, tz)
        frame = pd.DataFrame({"unit_id": unit_ids}).merge(frame, on="unit_id", how="left")
        missing = missing_features(champion, frame.columns, unknowable_inputs(domain, tz))
        if missing:  # e.g. no rain gauge in the lake: no rain columns at all
            # unknown inputs are NaN, as the all-sites frame gives a site whose gauge sent
            # nothing (and as the stream did); a champion that cannot score NaN is refused
            frame = frame.reindex(columns=[*frame.columns, *missing])
            item = sensor_rules.model_inputs_missing_reason(
                missing,
                has_rain_gauge=bool((sensors["sensor_type"] == "rain_gauge").any()),
                rules_served=rules_served,
            )
        try:
            prob = predict_probability(champion, frame)
        except ValueError as exc:
            if not missing:
                raise
            log.warning("%s at %s: %s (%s)", domain, origin, item["en"], exc)
            refused = set(unit_ids)
            reasons = {u: [dict(item)] for u in unit_ids}
        else:
            for u, items in site_model_reasons(champion, frame).items():
                if u in reasons and u not in refused:
                    reasons[u] = [*items, *reasons[u]]
            if missing:
                note = sensor_rules.model_inputs_unknown_reason(missing)
                log.warning("%s at %s: %s", domain, origin, note["en"])
                for u in unit_ids:
                    if u not in refused:
                        reasons[u].append(dict(note))
    applicable = np.array([u not in refused for u in unit_ids])
    prob = np.where(applicable, prob, np.nan)
    return pd.DataFrame(
        {
            "unit_id": unit_ids,
            "probability": prob,
            "model_applicable": applicable,
            "spacing_hours": [float(by_site.get(u, np.nan)) for u in unit_ids],
            "reason_items": [reasons[u] for u in unit_ids],
        }
    )


# --------------------------------------------------------------------------- runs


def write_run(
    store: Store,
    *,
    domain: str,
    origin: pd.Timestamp,
    forecasts: pd.DataFrame,
    warnings: pd.DataFrame,
    model_name_: str | None,
    model_version: str | None,
    data_version_: str,
    airflow_run_id: str | None,
    unscored: dict[str, list[str]] | None = None,
) -> str:
    """Stage, fill and publish one run; ``unscored``: the units it leaves out, by reason
    (the run's ``unscored``: the dispute cases already escalated)."""
    if forecasts.empty:
        raise RuntimeError(f"{domain}: nothing to score at {origin} — not publishing an empty run")
    run_id = store.stage_run(
        {
            "run_id": run_id_for(domain, origin),
            "domain": domain,
            "origin": origin.to_pydatetime(),
            "horizon_hours": float(domains.get(domain).horizon_hours),
            "model_name": model_name_,
            "model_version": model_version,
            "data_version": data_version_,
            "airflow_run_id": airflow_run_id,
            "unscored": unscored,
        }
    )
    store.write_forecasts(run_id, forecasts)
    if not warnings.empty:
        store.write_warnings(run_id, warnings)
    store.publish_run(run_id)  # audits publish_run (one entry, in its transaction)
    return run_id


def score_domain(
    settings: Settings,
    domain: str,
    origin: Any,
    *,
    store: Store | None = None,
    airflow_run_id: str | None = None,
    policy: rw.LevelPolicy | None = None,
    allow_in_sample: bool = False,
    allow_stale_data: bool = False,
    say: Callable[[str], None] | None = None,
) -> str:
    """Score ``domain`` at ``origin`` with its champion, publish; return the run id.

    Refused (:class:`StaleData`, audited ``stale_data_refused``, nothing written) when a
    source the champion is served on has no record known at the origin within the
    domain's ``max_data_age_days`` (:func:`check_data_age`); ``allow_stale_data``
    (``riskwarn score --allow-stale-data``): scored anyway, audited.

    A hotspot or case champion is scored on the lake sources it was trained on alone
    (:func:`served_sources`): a source it never learned from is left out and said once,
    through ``say`` (the CLI's line; logged at INFO too) or, without, logged as a
    warning (the DAG's task log); refused (:class:`SourcesMismatch`) when one of its
    training sources left the lake or it records none on a lake of several.

    Raises :class:`ChampionUnavailable` (nothing written, the served run stays) when
    the registry or champion is missing, or the champion takes features the scoring
    frame lacks (audited as ``champion_refused``), or the champion was trained on data
    after ``origin`` (:func:`out_of_sample`; the cause is :class:`InSampleOrigin`): a
    backfill of an old origin (``riskwarn score --origin``, the DAG's backfill) never
    publishes an in-sample forecast as if it had been made at the time, where every hit
    rate or verdict computed from published runs would count it as one.
    ``allow_in_sample``: score anyway (checks of the serving mechanics at a training
    origin, e.g. tests/test_frame_parity.py; neither the CLI nor the DAGs offer it).
    """
    from models.registry import serving_champion
    from riskwarn.store import Store as _Store

    spec = domains.get(domain)
    origin = utc(origin)
    if store is None:
        store = _Store.from_settings(settings)
        store.upgrade()
    uri = settings.resolved_mlflow_uri
    # the data end and the training zone read before the champion is downloaded and
    # unpickled (champion_at)
    if allow_in_sample:
        champion = serving_champion(uri, domain, store)
        _refuse_other_tz(uri, domain, champion.version, settings.display_tz, store)
    else:
        champion = champion_at(uri, domain, origin, store, tz=settings.display_tz)
    deleted = run_deleted_note(uri, champion)
    if deleted is not None:  # served (its files are the ones promoted), said loudly
        log.warning("%s", deleted)
        if say is not None:
            say(f"WARNING: {deleted}")
    if spec.family == "site":
        return _score_sites(
            settings, domain, origin, store, champion, airflow_run_id, policy, allow_stale_data, say
        )
    # a champion is served on the lake sources it was trained on, never on one added since
    try:
        sources, note = served_sources(settings, domain, champion)
    except SourcesMismatch as exc:
        raise refused(store, champion, exc) from exc
    if note is not None:
        if say is not None:
            say(note)
            log.info("%s", note)
        else:
            log.warning("%s", note)
    # a source that stopped would be read as no events: refused before the frame is built
    check_data_age(settings, store, domain, origin, sources, allow_stale=allow_stale_data, say=say)
    frame = scoring_frame(settings, domain, origin, sources)
    if frame.empty:
        raise RuntimeError(f"{domain}: no units to score at {origin:%Y-%m-%d %H:%M}Z")
    try:
        prob = predict_probability(champion, frame)
    except FeaturesMismatch as exc:
        raise refused(store, champion, exc) from exc
    forecasts = forecasts_frame(frame, prob, domain, origin)
    scored = forecasts[["unit_id", "probability", "score", "county_code", "township_code"]]
    explanations: dict[str, Any] | Callable[[set[str]], dict[str, Any]]
    unscored = None
    if spec.unit == "case":  # the panels read every open case's explanation, warned or not
        explanations = model_explanations(champion, frame)
        forecasts["explanation"] = [explanations.get(str(u)) for u in forecasts["unit_id"]]
        # the open cases the model does not score (escalated already): published with
        # the run, so the panel can say how many cases are open in all
        unscored = {"already_escalated": escalated_open_cases(settings, origin, sources)}
    else:  # only a warning carries a cell's explanation: explain the warned cells alone
        explanations = partial(warned_explanations, champion, frame)

    def evidence_of(warned: set[str]) -> dict[str, dict[str, Any]]:
        """The warned units' evidence from the frame the model scored (riskwarn.evidence)."""
        from riskwarn.evidence import unit_evidence

        rows = frame.loc[frame["unit_id"].astype(str).isin(warned)]
        return unit_evidence(spec.unit, rows)

    return _warn_and_write(
        store,
        domain,
        origin,
        champion,
        policy,
        scored,
        forecasts,
        explanations,
        data_version(frame),
        airflow_run_id,
        unscored=unscored,
        evidence_of=evidence_of,
    )


def escalated_open_cases(
    settings: Settings, origin: pd.Timestamp, sources: Sequence[str] | None = None
) -> list[str]:
    """The dispute cases open at ``origin`` that escalated before it (from the lake's
    cases and events of ``sources`` (None: all) known before ``origin``, each as known at
    it: :func:`features.disputes.open_escalated_cases`), the ones the case model leaves
    out."""
    from features.disputes import open_escalated_cases
    from riskwarn import serving_frames as sf

    disputes, events = sf.known_at(sf.case_records(settings, origin, sources), origin)
    return open_escalated_cases(disputes, events, origin)


def warned_explanations(
    champion: Champion, frame: pd.DataFrame, warned: set[str]
) -> dict[str, Any]:
    """:func:`riskwarn.reasons.model_explanations` of the rows of ``frame`` whose unit is
    in ``warned``: each row's explanation is its own (its SHAP contributions and its
    values), so these are the entries the whole frame's would give for those units, at
    the cost of the warned rows instead of every scored cell (126,475 cells and a few
    hundred warnings on the simulated city)."""
    if not warned:
        return {}
    rows = frame.loc[frame["unit_id"].astype(str).isin(warned)]
    return model_explanations(champion, rows)


def _warn_and_write(
    store: Store,
    domain: str,
    origin: pd.Timestamp,
    champion: Champion,
    policy: rw.LevelPolicy | None,
    scored: pd.DataFrame,
    forecasts: pd.DataFrame,
    explanations: dict[str, Any] | Callable[[set[str]], dict[str, Any]],
    version: str,
    airflow_run_id: str | None,
    *,
    unscored: dict[str, list[str]] | None = None,
    evidence_of: Callable[[set[str]], dict[str, dict[str, Any]]] | None = None,
) -> str:
    """Levels (with hysteresis and the county capacity) and warnings of ``scored``
    (unit_id, probability, score, county and township codes), then one run written.
    ``explanations``: per unit, or a function giving them for the set of warned units
    (called once the levels are known); ``evidence_of`` the warned units' evidence
    beside the model's name (called after the explanations)."""
    spec = domains.get(domain)
    policy = policy or spec.levels
    history = store.warnings(domain=domain, published_only=False)
    previous = previous_levels(previous_run_warnings(store, domain, origin))
    levels = rw.assign_levels(scored, policy, previous)
    levels = rw.apply_capacity(
        levels, policy.max_high_per_county, issued_this_week(history, origin)
    )
    warned = set(levels.loc[levels["level_rank"] >= 1, "unit_id"].astype(str))
    if callable(explanations):
        explanations = explanations(warned)
    evidence = evidence_of(warned) if evidence_of is not None else None
    ctx = rw.WarningContext(
        domain,
        spec.unit,
        origin,
        float(spec.horizon_hours),
        {"model": f"{champion.name} v{champion.version}"},
    )
    return write_run(
        store,
        domain=domain,
        origin=origin,
        forecasts=forecasts,
        warnings=rw.build_warnings(levels, ctx, explanations, evidence),
        model_name_=champion.name,
        model_version=champion.version,
        data_version_=version,
        airflow_run_id=airflow_run_id,
        unscored=unscored,
    )


def _score_sites(
    settings: Settings,
    domain: str,
    origin: pd.Timestamp,
    store: Store,
    champion: Champion,
    airflow_run_id: str | None,
    policy: rw.LevelPolicy | None,
    allow_stale_data: bool = False,
    say: Callable[[str], None] | None = None,
) -> str:
    """Daily site serving (model only): :func:`serve_site_model`, so the reading-spacing
    guard of the nowcast applies here too.

    A site the model is refused at (e.g. its only displacement sensor reads monthly) keeps
    its forecast row: probability NULL, score 0 (ranked last), no level from this run
    (rank 0: no warning row; hysteresis cannot hold a level on a missing probability) and
    an ``explanation`` saying why the model was not applied.
    """
    from riskwarn import serving_frames as sf

    sites, sensors, readings = sf.site_serving_inputs(settings, origin)
    if sites.empty:
        raise RuntimeError(f"{domain}: no units to score at {origin:%Y-%m-%d %H:%M}Z")
    # a whole readings feed silent (every sensor of a source): the model alone would read
    # no displacement and no rain as calm (the nowcast warns at silent sensors instead)
    check_data_age(
        settings,
        store,
        domain,
        origin,
        None,
        sensors=sensors,
        allow_stale=allow_stale_data,
        say=say,
    )
    try:
        served = serve_site_model(
            champion, sites, sensors, readings, origin, domain, settings.display_tz, False
        )
    except FeaturesMismatch as exc:  # as hotspot and case scoring: nothing written
        raise refused(store, champion, exc) from exc
    units = served.merge(sf.site_places(settings, sites), on="unit_id", how="left")
    prob = units["probability"].to_numpy(float)
    forecasts = forecasts_frame(units, prob, domain, origin, score=np.nan_to_num(prob, nan=0.0))
    explanation = dict(zip(units["unit_id"], units["reason_items"], strict=True))
    forecasts["explanation"] = [explanation[u] or None for u in forecasts["unit_id"]]
    forecasts["probability"] = (
        forecasts["probability"].astype(object).where(forecasts["probability"].notna(), None)
    )
    scored = units[["unit_id", "county_code", "township_code"]].assign(probability=prob)
    scored["score"] = np.nan_to_num(prob, nan=0.0)
    version = data_version(units[["unit_id", "probability", "model_applicable", "spacing_hours"]])
    return _warn_and_write(
        store,
        domain,
        origin,
        champion,
        policy,
        scored,
        forecasts,
        explanation,
        version,
        airflow_run_id,
    )
