"""A corrected dispute record does not rewrite history for the case-escalation model: each
origin's row (inputs, the open / not-yet-escalated selection, label) comes from the
versions of ``disputes`` and ``dispute_events`` known before it
(``riskwarn.lake.read_versions``; training, backtests, refits and ``riskwarn features
build``; serving too, through ``riskwarn.lake.read_known``: tests/test_frame_parity.py).

The case to guard: an event first recorded as a failed mediation and corrected weeks
later into an escalation (a petition). Before, the lake held only the corrected row, so
every origin after the event, also those before the correction, saw the case as already
escalated: it left their tables and counted in the parties' and the neighbours'
escalation inputs, a label-side fact known only later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.case_models import build_case_table
from riskwarn.contracts import ESCALATION_EVENT_TYPES
from tests.test_case_site_models import _cases

CRS, TZ = "EPSG:32650", "Asia/Shanghai"
STAMP = "datetime64[ns, UTC]"


def _versions(
    current: pd.DataFrame, picks: np.ndarray, change, rng: np.random.Generator, time_col: str
) -> pd.DataFrame:
    """``current`` with the records at ``picks`` corrected (some twice) by ``change(row)``,
    each correction known 1 to 90 days after the record's time: the frame
    ``read_versions`` gives (current rows with ``known_from``, the replaced ones with
    ``known_to``)."""
    cur = current.assign(
        known_from=pd.Series(pd.NaT, index=current.index, dtype=STAMP),
        known_to=pd.Series(pd.NaT, index=current.index, dtype=STAMP),
    )
    old = []
    for k, i in enumerate(picks):
        when = cur.at[i, time_col] + pd.Timedelta(days=float(rng.uniform(1, 90)))
        for t in [when] + ([when + pd.Timedelta(days=float(rng.uniform(1, 40)))] if k % 4 else []):
            prev = cur.loc[i].copy()
            prev["known_to"] = t
            old.append(prev)
            cur.loc[i, "known_from"] = t
            for col, value in change(cur.loc[i], rng).items():
                cur.at[i, col] = value
    out = pd.concat([cur, pd.DataFrame(old)], ignore_index=True)
    return out.astype(
        {
            **{c: current[c].dtype for c in current.columns},
            **dict.fromkeys(("known_from", "known_to"), STAMP),
        }
    )


def _change_dispute(row: pd.Series, rng: np.random.Generator) -> dict:
    return {
        "category": rng.choice(["neighbour", "labour", "land"]),
        "amount_cny": float(rng.lognormal(9, 1)),
        "n_parties": int(rng.integers(1, 6)),
        "party_ids": f"P{rng.integers(0, 400)};P{rng.integers(0, 400)}",
        "lon": row["lon"] + float(rng.choice([-0.003, 0.003])),
        "opened_at": row["opened_at"] + pd.Timedelta(days=float(rng.uniform(-5, 5))),
    }


def _change_event(row: pd.Series, rng: np.random.Generator) -> dict:
    kind = {
        "mediation_failed": "escalated_petition",  # the label-side fact, known later
        "escalated_petition": "mediation_failed",
        "closed": "closed",
    }.get(row["event_type"], "mediation_failed")
    return {
        "event_type": kind,
        "event_at": row["event_at"] + pd.Timedelta(days=float(rng.uniform(-10, 10))),
    }


def _at(versions: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    """The version of each record valid at ``t`` (known from before it, not yet replaced)."""
    kf, kt = versions["known_from"], versions["known_to"]
    valid = (kf.isna() | (kf < t)) & (kt.isna() | (kt >= t))
    view = versions.loc[valid].drop(columns=["known_from", "known_to"])
    assert view["record_id"].is_unique
    return view


def _latest(versions: pd.DataFrame) -> pd.DataFrame:
    """The records as they are now (what serving at "now" reads)."""
    return versions[versions["known_to"].isna()].drop(columns=["known_from", "known_to"])


def test_case_rows_match_a_per_origin_rebuild_of_the_versions_known_then():
    """Disputes corrected (category, amount, parties, place, opening time; some twice) and
    events corrected (a failed mediation into an escalation and back, closings and
    times moved): every row of the case table equals the table built for its origin
    alone from the versions valid at it (features, the open / not-escalated selection),
    and its label counts the case's escalations in its window as the events are known
    now (tests/test_case_label_vintage.py). Fails on the old code (every version of a
    corrected record was a case of its own, and the corrected escalation excluded the
    case before it was known)."""
    disputes, events = _cases(n=400, days=200, seed=5)
    rng = np.random.default_rng(17)
    d_versions = _versions(
        disputes, rng.choice(len(disputes), 80, replace=False), _change_dispute, rng, "opened_at"
    )
    kinds = events["event_type"]
    picks = np.concatenate(
        [
            rng.choice(np.flatnonzero(kinds == "mediation_failed"), 60, replace=False),
            rng.choice(np.flatnonzero(kinds == "escalated_petition"), 10, replace=False),
            rng.choice(np.flatnonzero(kinds == "closed"), 20, replace=False),
        ]
    )
    e_versions = _versions(events, picks, _change_event, rng, "event_at")
    start = pd.Timestamp("2023-01-01", tz=TZ)
    origins = pd.date_range(start + pd.Timedelta(days=14), periods=36, freq="7D").tz_convert("UTC")
    kw = {"crs": CRS, "cell_size_m": 250, "tz": TZ}
    got = build_case_table(d_versions, e_versions, origins, **kw)
    assert got[["origin", "dispute_id"]].duplicated().sum() == 0
    escalated_later = 0
    latest = _latest(e_versions)
    esc = latest[latest["event_type"].isin(ESCALATION_EVENT_TYPES)]
    for t in origins:
        want = build_case_table(_at(d_versions, t), _at(e_versions, t), [t], **kw)
        # the label: what happened in [t, t + 30 d), as known now
        w = esc[(esc["event_at"] >= t) & (esc["event_at"] < t + pd.Timedelta(days=30))]
        n = want["dispute_id"].map(w.groupby("dispute_id").size()).fillna(0)
        want["label_escalation_count"] = n.astype("int32")
        want["label_escalation"] = (n > 0).astype("int8")
        row = got[got["origin"] == t].reset_index(drop=True)
        pd.testing.assert_frame_equal(row, want, check_exact=False, rtol=1e-6, atol=1e-6)
        # the case the correction will call escalated is still an open case here
        now = build_case_table(_latest(d_versions), _latest(e_versions), [t], **kw)
        escalated_later += len(set(row["dispute_id"]) - set(now["dispute_id"]))
    assert escalated_later > 0  # the corrections did change which cases an origin holds
    # without versions: the plain table (the two columns simply absent)
    plain = build_case_table(disputes, events, origins, **kw)
    none = {"known_from": pd.NaT, "known_to": pd.NaT}
    pd.testing.assert_frame_equal(
        plain, build_case_table(disputes.assign(**none), events.assign(**none), origins, **kw)
    )


# --- through the lake: ingest, correct, `riskwarn features build dispute_cases` ---

DIS_MAPPING = Path(__file__).resolve().parents[1] / "configs/sources/sim_disputes.yaml"
EV_MAPPING = Path(__file__).resolve().parents[1] / "configs/sources/sim_dispute_events.yaml"
DIS_HEADER = "案件编号,登记时间,纠纷类型,经度,纬度,所属社区代码,当事人数,涉及金额（元）,甲方身份证号,乙方身份证号\n"
EV_HEADER = "事件编号,案件编号,事件时间,事件类型\n"
CATS = {"neighbour": "邻里纠纷", "labour_wage": "劳资纠纷", "land_homestead": "土地宅基地纠纷"}
KINDS = {
    "opened": "受理登记",
    "mediation_attempt": "组织调解",
    "mediation_failed": "调解未成功",
    "mediation_succeeded": "调解成功",
    "escalated_petition": "引发信访",
    "closed": "结案",
}
FIX = datetime(2023, 4, 12, tzinfo=UTC)  # the correction's ingest
# corrections: an event recorded as a failed mediation is an escalation (a petition) ...
ESCALATED = "E000001"  # MD00000's first mediation (2023-01-11), corrected 3 months on
# ... and a dispute's category, amount, parties count and place change
DISPUTE = "MD00003"


def _city() -> tuple[pd.DataFrame, pd.DataFrame]:
    """60 disputes opened Jan .. Mar 2023 in six cells, two sharing a party with MD00001;
    mediations every 9 days, every second failed; closed after 70 days."""
    rng = np.random.default_rng(2)
    rows, events = [], []
    t0 = pd.Timestamp("2023-01-02 09:00", tz=TZ).tz_convert("UTC")
    for i in range(60):
        opened = t0 + pd.Timedelta(days=int(i * 1.4), hours=int(rng.integers(0, 8)))
        rows.append(
            {
                "record_id": f"MD{i:05d}",
                "opened_at": opened,
                "category": list(CATS)[i % 3],
                "lon": 116.50 + 0.003 * (i % 3),
                "lat": 30.50 + 0.003 * (i % 2),
                "n_parties": 2,
                "amount_cny": 1000.0 * (1 + i % 7),
                "party_a": f"3408{(i % 40):014d}" if i not in (1, 21, 41) else "34080000000000001X",
                "party_b": f"3409{i:014d}",
            }
        )
        events.append((f"MD{i:05d}", opened, "opened"))
        for k, day in enumerate(range(9, 70, 9)):
            kind = "mediation_failed" if k % 2 == 0 else "mediation_attempt"
            events.append((f"MD{i:05d}", opened + pd.Timedelta(days=day), kind))
        events.append((f"MD{i:05d}", opened + pd.Timedelta(days=70), "closed"))
    ev = pd.DataFrame(events, columns=["dispute_id", "event_at", "event_type"])
    ev["record_id"] = [f"E{i:06d}" for i in range(len(ev))]
    return pd.DataFrame(rows), ev


def _dis_csv(d: pd.DataFrame) -> str:
    lines = [
        f"{r.record_id},{r.opened_at.tz_convert(TZ):%Y-%m-%d %H:%M:%S},{CATS[r.category]},"
        f"{r.lon:.5f},{r.lat:.5f},,{r.n_parties},{r.amount_cny:.1f},{r.party_a},{r.party_b}"
        for r in d.itertuples()
    ]
    return DIS_HEADER + "\n".join(lines) + "\n"


def _ev_csv(e: pd.DataFrame) -> str:
    lines = [
        f"{r.record_id},{r.dispute_id},{r.event_at.tz_convert(TZ):%Y-%m-%d %H:%M:%S},"
        f"{KINDS[r.event_type]}"
        for r in e.itertuples()
    ]
    return EV_HEADER + "\n".join(lines) + "\n"


def _corrected(d: pd.DataFrame, e: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    d, e = d.copy(), e.copy()
    assert e.set_index("record_id").at[ESCALATED, "event_type"] == "mediation_failed"
    e.loc[e["record_id"] == ESCALATED, "event_type"] = "escalated_petition"
    at = d["record_id"] == DISPUTE
    d.loc[at, ["category", "amount_cny", "n_parties", "lon"]] = ["labour_wage", 9e5, 40, 116.509]
    return d, e


def _lake(root: Path, d: pd.DataFrame, e: pd.DataFrame, fix: bool) -> Path:
    """Monthly extracts (what had happened by each ingest), then, with ``fix``, the
    corrected rows re-sent at :data:`FIX`."""
    from riskwarn.ingest import ingest_files, load_mapping
    from riskwarn.settings import Settings
    from tests.conftest import TEST_PSEUDONYM_KEY

    root.mkdir(parents=True)
    settings = Settings(home=root / "home", pseudonym_key=TEST_PSEUDONYM_KEY)
    dm, em = load_mapping(DIS_MAPPING), load_mapping(EV_MAPPING)
    ends = pd.date_range("2023-02-01", "2023-07-01", freq="MS", tz="UTC")
    for i, end in enumerate(ends):
        lo = ends[i - 1] if i else pd.Timestamp("2000-01-01", tz="UTC")
        dd = d[(d["opened_at"] >= lo) & (d["opened_at"] < end)]
        ee = e[(e["event_at"] >= lo) & (e["event_at"] < end)]
        if fix and lo.to_pydatetime() <= FIX < end.to_pydatetime():
            cd, ce = _corrected(d, e)
            sent = [
                ("fd", dm, _dis_csv(cd[(cd["record_id"] == DISPUTE) & (cd["opened_at"] < FIX)])),
                ("fe", em, _ev_csv(ce[(ce["record_id"] == ESCALATED) & (ce["event_at"] < FIX)])),
            ]
            for name, mapping, text in sent:
                path = root / f"{name}.csv"
                path.write_bytes(text.encode("gb18030" if name == "fd" else "utf-8"))
                ingest_files(mapping, [path], settings, as_of=FIX)
        monthly = (("d", dm, _dis_csv(dd), len(dd)), ("e", em, _ev_csv(ee), len(ee)))
        for name, mapping, text, n in monthly:
            if n:
                path = root / f"{name}{i}.csv"
                path.write_bytes(text.encode("gb18030" if name == "d" else "utf-8"))
                ingest_files(mapping, [path], settings, as_of=end.to_pydatetime())
    return root / "home"


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """corrected: the monthly extracts and the correction at FIX; original: never
    corrected; fixed: the corrected values from the start (what every origin saw before)."""
    tmp = tmp_path_factory.mktemp("vintage_cases")
    d, e = _city()
    cd, ce = _corrected(d, e)
    return {
        "corrected": _lake(tmp / "corrected", d, e, fix=True),
        "original": _lake(tmp / "original", d, e, fix=False),
        "fixed": _lake(tmp / "fixed", cd, ce, fix=False),
    }


def _features_build(home: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    from riskwarn.cli import main

    monkeypatch.setenv("RISKWARN_HOME", str(home))
    args = ["features", "build", "dispute_cases", "--start", "2023-01-16", "--end", "2023-05-29"]
    args += ["--out", str(out), "--crs", CRS, "--tz", TZ, "--cell-size", "250"]
    assert main(args) == 0
    parts = sorted(out.glob("origin=*/part.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def test_each_case_origin_sees_the_dispute_versions_known_before_it(
    lakes: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Rows at origins before the correction are those of a lake that never got it; after
    it, those of a lake that had the corrected values all along. Fails on the old code:
    at the origins between the event (2023-02) and the correction (2023-04-12) the case
    was already escalated (out of the table) and its party's other cases counted the
    escalation; MD00003 had its corrected category, amount and parties count."""
    from riskwarn.lake import read_versions

    lake_dir = lakes["corrected"] / "lake"
    ev = read_versions(lake_dir, "dispute_events")
    one = ev[ev["record_id"] == ESCALATED].sort_values("known_to", na_position="last")
    assert one["event_type"].tolist() == ["mediation_failed", "escalated_petition"]
    assert one["known_to"].iloc[0] == pd.Timestamp(FIX) == one["known_from"].iloc[1]
    d = read_versions(lake_dir, "disputes")
    assert d.loc[d["record_id"] == DISPUTE, "category"].tolist() == ["labour_wage", "neighbour"]

    frames = {k: _features_build(h, tmp_path / k, monkeypatch) for k, h in lakes.items()}
    got = frames["corrected"]
    fix = pd.Timestamp(FIX)
    origins = pd.DatetimeIndex(got["origin"].unique())
    assert (origins < fix).sum() >= 5 and (origins > fix).sum() >= 5
    for name, sel in (("original", origins < fix), ("fixed", origins > fix)):
        want = frames[name]
        a = got[got["origin"].isin(origins[sel])].reset_index(drop=True)
        b = want[want["origin"].isin(origins[sel])].reset_index(drop=True)
        assert list(a.columns) == list(b.columns)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6, atol=1e-6)
    # and the two lakes differ where they must, before the correction was known
    owner = frames["original"].loc[lambda f: f["dispute_id"] == "MD00003"]
    early = pd.DatetimeIndex(owner["origin"])
    early = early[early < fix]
    a, b = (frames[k][frames[k]["origin"].isin(early)] for k in ("original", "fixed"))
    assert set(a["dispute_id"]) - set(b["dispute_id"])  # the escalated case left the table
    pa_, pb = (f.groupby("dispute_id")["party_prior_escalations"].sum() for f in (a, b))
    assert (pb.reindex(pa_.index, fill_value=0) > pa_).any()  # the party's other case saw it
    cat = [f.loc[f["dispute_id"] == DISPUTE, "category_neighbour"].max() for f in (a, b)]
    assert cat == [1.0, 0.0]


def test_case_training_reads_the_versions(
    lakes: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training (the backtest, its refits and the final fit) gets the earlier versions
    of corrected disputes and events; its origins come from the current records. Fails
    on the old code (it read the current rows only)."""
    import models.case_models as cm
    from riskwarn import pipeline
    from riskwarn.settings import Settings
    from tests.conftest import TEST_PSEUDONYM_KEY

    seen: dict[str, pd.DataFrame] = {}

    def record(disputes: pd.DataFrame, events: pd.DataFrame, *a, **k) -> str:
        seen["disputes"], seen["events"] = disputes, events
        return "recorded"

    monkeypatch.setattr(cm, "train_case_domain", record)
    settings = Settings(home=lakes["corrected"], pseudonym_key=TEST_PSEUDONYM_KEY)
    end = pd.Timestamp("2023-07-01", tz="UTC")
    opts = pipeline.TrainOptions()
    assert pipeline._train_cases(settings, "dispute_cases", end, opts, None, {}) == "recorded"
    ev = seen["events"]
    assert ev.loc[ev["record_id"] == ESCALATED, "event_type"].tolist() == [
        "escalated_petition",
        "mediation_failed",
    ]
    assert seen["disputes"]["record_id"].duplicated().sum() == 1
