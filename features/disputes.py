"""Dispute case x origin features and escalation labels (DuckDB SQL).

One row per (origin, open dispute). A dispute is open at origin t when it was opened
before t and no ``closed`` event happened before t. Cases that already escalated
before t are excluded by default (they are in the petition / police / court workflow
already, and the question the panels ask is which *not yet escalated* case will
escalate); with ``include_escalated=True`` they are kept and flagged ``already_escalated``.

Only pseudonymous party ids are used (to link a party's other cases); no personal field
ever appears in the output. Everything a feature looks at has a time strictly before t;
the label looks at escalation events in [t, t + horizon) as they are known when the labels
are read (:func:`escalation_labels`: the current versions unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from riskwarn.contracts import DISPUTE_CATEGORIES, ESCALATION_EVENT_TYPES

KEY_COLUMNS = ["origin", "dispute_id"]
MEDIATION_EVENT_TYPES = ("mediation_attempt", "mediation_failed", "mediation_succeeded")
_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class DisputeCaseParams:
    """Parameters of the dispute case table."""

    tz: str = "Asia/Shanghai"
    horizon_days: int = 30
    nearby_days: tuple[int, ...] = (30, 90)
    include_escalated: bool = False


def _epoch_us(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC timestamps as int64 microseconds since the epoch (NaT -> NULL via float NaN handled by caller)."""
    return pd.DatetimeIndex(ts).as_unit("us").asi8


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _add_known(frame: pd.DataFrame, records: pd.DataFrame) -> None:
    """``kf_us`` / ``kt_us``: the knowledge interval of each row as epoch microseconds
    (``known_from`` / ``known_to`` of :func:`riskwarn.lake.read_versions`; NULL when the
    column or the value is missing: no bound)."""
    for name, col in (("kf_us", "known_from"), ("kt_us", "known_to")):
        if col in records.columns:
            at = pd.DatetimeIndex(pd.to_datetime(records[col], utc=True)).as_unit("us")
            us = pd.array(at.asi8, dtype="Int64")
            us[np.asarray(at.isna())] = pd.NA
            frame[name] = us
        else:
            frame[name] = pd.array([pd.NA] * len(frame), dtype="Int64")


def _valid(alias: str, origin: str, prefix: str = "k") -> str:
    """SQL: the row ``alias`` (its ``{prefix}f_us`` / ``{prefix}t_us``) is the version of
    its record valid at ``origin``: known from before it, not superseded before it."""
    kf, kt = f"{alias}.{prefix}f_us", f"{alias}.{prefix}t_us"
    return f"({kf} IS NULL OR {kf} < {origin}) AND ({kt} IS NULL OR {kt} >= {origin})"


def build_dispute_case_features(
    disputes: pd.DataFrame,
    dispute_events: pd.DataFrame,
    origins: Sequence[pd.Timestamp] | pd.DatetimeIndex,
    params: DisputeCaseParams | None = None,
    *,
    labels_known_at: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Dispute case x origin table: keys ``origin``, ``dispute_id``, case features, ``label_escalation``.

    ``disputes``: ``record_id``, ``opened_at``, ``category``, ``cell_x``, ``cell_y``,
    ``party_ids`` (';'-joined pseudonyms), optional ``n_parties``, ``amount_cny``.
    ``dispute_events``: ``dispute_id``, ``event_at``, ``event_type``.

    Either table may hold the earlier versions of corrected records too
    (:func:`riskwarn.lake.read_versions`: ``known_from`` / ``known_to``): each origin
    then sees, in every feature and in the open / already-escalated selection, the
    version of each record valid at it (``known_from`` before the origin or None,
    ``known_to`` None or not before it: :func:`features.cells.versions_at`'s rule). A
    dispute whose event is corrected to an escalation later is, at the origins before
    the correction, the open case it was then: the correction never reaches their inputs.
    Its label is what happened as known at ``labels_known_at`` (None: the current
    versions; :func:`escalation_labels`, the one label rule): the corrected escalation
    counts in the windows that hold it.
    """
    params = params or DisputeCaseParams()
    idx = pd.DatetimeIndex(sorted(set(pd.DatetimeIndex(origins))))
    if len(idx) and idx.tz is None:
        raise ValueError("origins must be timezone-aware (UTC) timestamps")
    d = pd.DataFrame(
        {
            "dispute_id": disputes["record_id"].astype(str).to_numpy(),
            "opened_us": _epoch_us(disputes["opened_at"]),
            "category": disputes["category"].astype(str).to_numpy(),
            "cell_x": disputes["cell_x"].astype("Int64").to_numpy(dtype="float64", na_value=np.nan),
            "cell_y": disputes["cell_y"].astype("Int64").to_numpy(dtype="float64", na_value=np.nan),
            "party_ids": disputes["party_ids"].astype("string").to_numpy()
            if "party_ids" in disputes
            else None,
            "n_parties": (
                disputes["n_parties"].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
                if "n_parties" in disputes
                else np.nan
            ),
            "amount_cny": (
                disputes["amount_cny"].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
                if "amount_cny" in disputes
                else np.nan
            ),
        }
    )
    ev = pd.DataFrame(
        {
            "dispute_id": dispute_events["dispute_id"].astype(str).to_numpy(),
            "event_us": _epoch_us(dispute_events["event_at"]),
            "event_type": dispute_events["event_type"].astype(str).to_numpy(),
        }
    )
    _add_known(d, disputes)
    _add_known(ev, dispute_events)
    o = pd.DataFrame(
        {"origin_us": idx.as_unit("us").asi8 if len(idx) else np.array([], dtype="int64")}
    )
    nb_max = max(params.nearby_days) * _US_PER_DAY
    nb_cols = ",\n".join(
        f"count(DISTINCT n.dispute_id) FILTER (WHERE n.opened_us >= oc.origin_us - {k * _US_PER_DAY}) "
        f"AS nearby_disputes_{k}d"
        for k in params.nearby_days
    )
    ne_cols = ",\n".join(
        f"count(*) FILTER (WHERE x.event_us >= oc.origin_us - {k * _US_PER_DAY}) AS nearby_escalations_{k}d"
        for k in params.nearby_days
    )
    esc = _sql_list(ESCALATION_EVENT_TYPES)
    med = _sql_list(MEDIATION_EVENT_TYPES)
    sql = f"""
    WITH d AS (SELECT * FROM d_in WHERE opened_us IS NOT NULL),
    ev AS (SELECT row_number() OVER (ORDER BY dispute_id, event_us, event_type, kf_us, kt_us) AS eid,
                  * FROM ev_in),
    closed AS (SELECT dispute_id, event_us, kf_us, kt_us FROM ev WHERE event_type = 'closed'),
    escv AS (SELECT ev.eid, ev.dispute_id, ev.event_us, ev.kf_us, ev.kt_us, d.cell_x, d.cell_y,
                    d.kf_us AS dkf_us, d.kt_us AS dkt_us
             FROM ev JOIN d USING (dispute_id) WHERE event_type IN ({esc})),
    pt AS (SELECT DISTINCT dispute_id, kf_us, kt_us, trim(p) AS party
           FROM (SELECT dispute_id, kf_us, kt_us, unnest(string_split(party_ids, ';')) AS p
                 FROM d WHERE party_ids IS NOT NULL)
           WHERE trim(p) <> ''),
    open_cases AS (
        SELECT o.origin_us, d.* FROM o_in o JOIN d ON d.opened_us < o.origin_us
            AND {_valid("d", "o.origin_us")}
        WHERE NOT EXISTS (
            SELECT 1 FROM closed c WHERE c.dispute_id = d.dispute_id
            AND c.event_us < o.origin_us AND {_valid("c", "o.origin_us")})),
    own AS (
        SELECT oc.origin_us, oc.dispute_id,
            count(e.eid) FILTER (WHERE e.event_us < oc.origin_us AND e.event_type IN ({med})) AS n_mediations,
            count(e.eid) FILTER (WHERE e.event_us < oc.origin_us AND e.event_type = 'mediation_failed')
                AS n_failed_mediations,
            max(e.event_us) FILTER (WHERE e.event_us < oc.origin_us AND e.event_type IN ({med})) AS last_med_us,
            count(e.eid) FILTER (WHERE e.event_us < oc.origin_us AND e.event_type IN ({esc})) AS n_escalations_before
        FROM open_cases oc LEFT JOIN ev e ON e.dispute_id = oc.dispute_id
            AND {_valid("e", "oc.origin_us")}
        GROUP BY 1, 2),
    parties AS (
        SELECT oc.origin_us, oc.dispute_id,
               count(DISTINCT d2.dispute_id) AS party_prior_disputes
        FROM open_cases oc JOIN pt p1 ON p1.dispute_id = oc.dispute_id
            AND {_valid("p1", "oc.origin_us")}
        JOIN pt p2 ON p2.party = p1.party AND p2.dispute_id <> oc.dispute_id
            AND {_valid("p2", "oc.origin_us")}
        JOIN d d2 ON d2.dispute_id = p2.dispute_id AND d2.opened_us < oc.origin_us
            AND {_valid("d2", "oc.origin_us")}
        GROUP BY 1, 2),
    party_esc AS (
        SELECT oc.origin_us, oc.dispute_id, count(DISTINCT x.eid) AS party_prior_escalations
        FROM open_cases oc JOIN pt p1 ON p1.dispute_id = oc.dispute_id
            AND {_valid("p1", "oc.origin_us")}
        JOIN pt p2 ON p2.party = p1.party AND p2.dispute_id <> oc.dispute_id
            AND {_valid("p2", "oc.origin_us")}
        JOIN escv x ON x.dispute_id = p2.dispute_id AND x.event_us < oc.origin_us
            AND {_valid("x", "oc.origin_us")} AND {_valid("x", "oc.origin_us", "dk")}
        GROUP BY 1, 2),
    ring AS (SELECT * FROM (VALUES (-1), (0), (1)) a(dx), (VALUES (-1), (0), (1)) b(dy)),
    oc_ring AS (SELECT oc.origin_us, oc.dispute_id, oc.cell_x + dx AS nx, oc.cell_y + dy AS ny
                FROM open_cases oc, ring WHERE oc.cell_x IS NOT NULL),
    nearby AS (
        SELECT oc.origin_us, oc.dispute_id, {nb_cols}
        FROM oc_ring oc JOIN d n ON n.cell_x = oc.nx AND n.cell_y = oc.ny
             AND n.dispute_id <> oc.dispute_id AND n.opened_us < oc.origin_us
             AND n.opened_us >= oc.origin_us - {nb_max} AND {_valid("n", "oc.origin_us")}
        GROUP BY 1, 2),
    nearby_esc AS (
        SELECT oc.origin_us, oc.dispute_id, {ne_cols}
        FROM oc_ring oc JOIN escv x ON x.cell_x = oc.nx AND x.cell_y = oc.ny
             AND x.dispute_id <> oc.dispute_id AND x.event_us < oc.origin_us
             AND x.event_us >= oc.origin_us - {nb_max}
             AND {_valid("x", "oc.origin_us")} AND {_valid("x", "oc.origin_us", "dk")}
        GROUP BY 1, 2)
    SELECT oc.origin_us, oc.dispute_id, oc.category, oc.cell_x, oc.cell_y, oc.opened_us,
           oc.n_parties, oc.amount_cny, own.* EXCLUDE (origin_us, dispute_id),
           coalesce(parties.party_prior_disputes, 0) AS party_prior_disputes,
           coalesce(party_esc.party_prior_escalations, 0) AS party_prior_escalations,
           nearby.* EXCLUDE (origin_us, dispute_id), nearby_esc.* EXCLUDE (origin_us, dispute_id)
    FROM open_cases oc
    JOIN own USING (origin_us, dispute_id)
    LEFT JOIN parties USING (origin_us, dispute_id)
    LEFT JOIN party_esc USING (origin_us, dispute_id)
    LEFT JOIN nearby USING (origin_us, dispute_id)
    LEFT JOIN nearby_esc USING (origin_us, dispute_id)
    ORDER BY oc.origin_us, oc.dispute_id
    """
    con = duckdb.connect()
    try:
        con.register("d_in", d)
        con.register("ev_in", ev)
        con.register("o_in", o)
        raw = con.execute(sql).df()
    finally:
        con.close()
    labels = _escalation_counts(
        raw["origin_us"].to_numpy(dtype="int64"),
        raw["dispute_id"].astype(str).to_numpy(),
        ev,
        params.horizon_days,
        labels_known_at,
    )
    return _finish(raw.assign(label_escalation_count=labels), params)


def _known_at_us(labels_known_at: pd.Timestamp | None) -> int | None:
    if labels_known_at is None:
        return None
    t = pd.Timestamp(labels_known_at)
    if t.tz is None:
        raise ValueError("labels_known_at must be timezone-aware (UTC)")
    return int(pd.DatetimeIndex([t]).as_unit("us").asi8[0])


def _escalation_counts(
    origin_us: np.ndarray,
    dispute_id: np.ndarray,
    ev: pd.DataFrame,
    horizon_days: int,
    labels_known_at: pd.Timestamp | None,
) -> np.ndarray:
    """Per (origin, dispute) row: the case's escalation events in ``[origin, origin +
    horizon)``, each event record in its version valid at ``labels_known_at`` (None: the
    current version, the one without ``known_to``). ``ev``: ``dispute_id``, ``event_us``,
    ``event_type``, ``kf_us``, ``kt_us`` (:func:`_add_known`)."""
    at = _known_at_us(labels_known_at)
    valid = "e.kt_us IS NULL" if at is None else _valid("e", str(at))
    rows = pd.DataFrame(
        {"i": np.arange(len(origin_us)), "origin_us": origin_us, "dispute_id": dispute_id}
    )
    h_us = int(horizon_days) * _US_PER_DAY
    sql = f"""
    SELECT r.i, count(e.dispute_id) AS n FROM rows_in r JOIN ev_in e ON e.dispute_id = r.dispute_id
        AND e.event_us >= r.origin_us AND e.event_us < r.origin_us + {h_us}
        AND e.event_type IN ({_sql_list(ESCALATION_EVENT_TYPES)}) AND {valid}
    GROUP BY r.i
    """
    con = duckdb.connect()
    try:
        con.register("rows_in", rows)
        con.register("ev_in", ev)
        got = con.execute(sql).df()
    finally:
        con.close()
    out = np.zeros(len(origin_us), dtype=np.int64)
    out[got["i"].to_numpy(dtype="int64")] = got["n"].to_numpy(dtype="int64")
    return out


def escalation_labels(
    rows: pd.DataFrame,
    dispute_events: pd.DataFrame,
    horizon_days: int,
    labels_known_at: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """The case labels of ``rows`` (``origin``, ``dispute_id``) as known at
    ``labels_known_at``: ``rows`` with ``label_escalation_count`` (the case's escalation
    events in ``[origin, origin + horizon_days)``) and ``label_escalation`` (count > 0)
    replaced. The one label rule of training, backtests and evaluation.

    Features take the versions known at each row's origin; a label is what happened, as
    known when it is read: each event record of ``dispute_events`` (with the earlier
    versions of corrected records, :func:`riskwarn.lake.read_versions`) counts in its
    version valid at ``labels_known_at`` (``known_from`` None or before it, ``known_to``
    None or not before it). None: the current versions, what evaluation scores against
    (a mediation corrected into an escalation after the origin is an escalation of that
    origin's window). A refit at cut-off ``T`` reads its training labels at ``T``: a
    correction made after it is not in them. A frame without the two version columns is
    its current versions at any time."""
    ev = pd.DataFrame(
        {
            "dispute_id": dispute_events["dispute_id"].astype(str).to_numpy(),
            "event_us": _epoch_us(dispute_events["event_at"]),
            "event_type": dispute_events["event_type"].astype(str).to_numpy(),
        }
    )
    _add_known(ev, dispute_events)
    origin_us = pd.DatetimeIndex(pd.to_datetime(rows["origin"], utc=True)).as_unit("us").asi8
    n = _escalation_counts(
        origin_us, rows["dispute_id"].astype(str).to_numpy(), ev, horizon_days, labels_known_at
    )
    return rows.assign(
        label_escalation_count=n.astype("int32"), label_escalation=(n > 0).astype("int8")
    )


def _finish(raw: pd.DataFrame, params: DisputeCaseParams) -> pd.DataFrame:
    origin = pd.to_datetime(raw["origin_us"].astype("int64"), unit="us", utc=True).astype(
        "datetime64[ns, UTC]"
    )
    out = pd.DataFrame({"origin": origin, "dispute_id": raw["dispute_id"].astype(str)})
    out["cell_x"] = raw["cell_x"].astype("Int64")
    out["cell_y"] = raw["cell_y"].astype("Int64")
    f32 = "float32"
    out["age_days"] = ((raw["origin_us"] - raw["opened_us"]) / _US_PER_DAY).astype(f32)
    last_med = raw["last_med_us"].astype("float64")
    out["days_since_last_mediation"] = ((raw["origin_us"] - last_med) / _US_PER_DAY).astype(f32)
    out["n_mediations"] = raw["n_mediations"].astype(f32)
    out["n_failed_mediations"] = raw["n_failed_mediations"].astype(f32)
    out["n_parties"] = raw["n_parties"].astype(f32)
    amount = raw["amount_cny"].astype("float64")
    out["log_amount_cny"] = np.log10(1.0 + amount).astype(f32)
    out["party_prior_disputes"] = raw["party_prior_disputes"].astype(f32)
    out["party_prior_escalations"] = raw["party_prior_escalations"].astype(f32)
    for k in params.nearby_days:
        out[f"nearby_disputes_{k}d"] = raw[f"nearby_disputes_{k}d"].fillna(0).astype(f32)
        out[f"nearby_escalations_{k}d"] = raw[f"nearby_escalations_{k}d"].fillna(0).astype(f32)
    for cat in DISPUTE_CATEGORIES:
        out[f"category_{cat}"] = (raw["category"] == cat).astype(f32)
    local = pd.DatetimeIndex(origin).tz_convert(params.tz)
    out["cal_month"] = np.asarray(local.month, dtype=f32)
    out["cal_season"] = np.asarray(
        (local.month % 12) // 3, dtype=f32
    )  # 0 winter, 1 spring, 2 summer, 3 autumn
    escalated = raw["n_escalations_before"].to_numpy() > 0
    out["already_escalated"] = escalated.astype(f32)
    out["label_escalation_count"] = raw["label_escalation_count"].astype("int32")
    out["label_escalation"] = (out["label_escalation_count"] > 0).astype("int8")
    if not params.include_escalated:
        out = out[~escalated].drop(columns="already_escalated")
    return out.reset_index(drop=True)


def open_escalated_cases(
    disputes: pd.DataFrame, dispute_events: pd.DataFrame, origin: pd.Timestamp
) -> list[str]:
    """The ids of the disputes open at ``origin`` that already escalated before it: the
    cases :func:`build_dispute_case_features` leaves out by default (same rules: opened
    before ``origin``, no ``closed`` event before it, an escalation event before it).
    Sorted. Scoring publishes them beside the scored cases (the run's ``unscored``), so a
    panel can say how many open cases there are in all."""
    origin = pd.Timestamp(origin)
    ids = disputes["record_id"].astype(str)
    opened = pd.to_datetime(disputes["opened_at"], utc=True)
    is_open = set(ids[opened.notna() & (opened < origin)])
    at = pd.to_datetime(dispute_events["event_at"], utc=True)
    before = dispute_events.loc[at < origin]
    kind = before["event_type"].astype(str)
    case = before["dispute_id"].astype(str)
    closed = set(case[kind == "closed"])
    escalated = set(case[kind.isin(ESCALATION_EVENT_TYPES)])
    return sorted((is_open - closed) & escalated)
