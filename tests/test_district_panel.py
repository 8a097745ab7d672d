"""The models page's per-district panel (issue 17.4): warnings share vs recorded-incident
share vs population, and the champion's calibration per district."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from dashboard import district_panel as dp
from testkit.dashboard_server import use_dashboard_env

LOOKUP = pd.DataFrame(
    {
        "record_id": ["C1", "C2", "T11", "T12", "T21"],
        "township_code": [None, None, "T11", "T12", "T21"],
        "county_code": ["C1", "C2", "C1", "C1", "C2"],
    }
)


def test_shares_per_district_leave_out_unplaced_rows() -> None:
    warnings = pd.DataFrame({"county_code": ["C1", "C1", "C1", "C2", None]})
    incidents = pd.DataFrame(
        {"county_code": dp.county_of(pd.Series(["T11", "T12", "T21", "X"]), LOOKUP)}
    )
    population = pd.DataFrame({"county_code": ["C1", "C2", "C2"], "population": [100, 150, 50]})
    got = dp.district_shares(warnings, incidents, population).set_index("county_code")
    assert got.loc["C1", "warnings_share"] == pytest.approx(0.75)
    assert got.loc["C1", "incidents_share"] == pytest.approx(2 / 3)
    assert got.loc["C2", "population_share"] == pytest.approx(2 / 3)
    assert got.attrs["unplaced"] == {"warnings": 1, "incidents": 1}


def test_calibration_rows_sum_up_to_their_county_weighted_by_rows() -> None:
    rows = [
        {"admin_code": "T11", "n": 100, "mean_probability": 0.10, "base_rate": 0.05},
        {"admin_code": "T12", "n": 300, "mean_probability": 0.02, "base_rate": 0.04},
        {"admin_code": "T21", "n": 50, "mean_probability": 0.2, "base_rate": 0.2},
    ]
    got = dp.district_calibration(rows, LOOKUP).set_index("county_code")
    assert got.loc["C1", "n"] == 400
    assert got.loc["C1", "mean_probability"] == pytest.approx((10 + 6) / 400)
    assert got.loc["C1", "observed_rate"] == pytest.approx((5 + 12) / 400)
    assert got.loc["C2", "gap"] == pytest.approx(0.0)
    assert dp.district_calibration([], LOOKUP).empty


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    pytest.importorskip("streamlit")
    from testkit.dashboard_demo import demo_home

    home = tmp_path_factory.mktemp("dp") / "home"
    city = demo_home(home, n_cells=200, weeks=2, n_cases=20)
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    yield home
    mp.undo()


def test_models_page_shows_the_district_panel(home: Path) -> None:
    from streamlit.testing.v1 import AppTest

    from dashboard import auth

    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=90)
    role, name = auth.DEMO_USERS["scientist"]
    at.session_state["user"] = auth.User(username="scientist", name=name, role=role)
    at.session_state["lang"] = "en"
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    text = "\n".join(m.value for m in at.markdown)
    assert dp.t("dp_title", "en") in text
    table = at.dataframe[-1].value
    assert len(table) == 10  # the demo city's ten counties
    for col in ("warnings share", "recorded-incident share", "population share"):
        assert table[col].sum() == pytest.approx(1.0)


def _shown(frame: object) -> pd.DataFrame:
    """The cells as the reader sees them (the Styler's display values)."""
    import pyarrow as pa

    data = frame.proto.arrow_data.styler.display_values  # type: ignore[attr-defined]
    return pa.ipc.open_stream(data).read_pandas()


@pytest.mark.parametrize(
    ("lang", "share", "gap"), [("en", "warnings share", " pp"), ("zh", "预警占比", " 个百分点")]
)
def test_district_table_shows_percentages(home: Path, lang: str, share: str, gap: str) -> None:
    """Shares read as percentages ("7.8%"), the calibration gap in percentage points; the
    old table showed bare decimals ("0.078")."""
    from streamlit.testing.v1 import AppTest

    from dashboard import auth

    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    at = AppTest.from_file(str(app), default_timeout=90)
    role, name = auth.DEMO_USERS["scientist"]
    at.session_state["user"] = auth.User(username="scientist", name=name, role=role)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    frame = at.dataframe[-1]
    numbers, shown = frame.value, _shown(frame)
    assert share in shown.columns and len(shown) == len(numbers) == 10
    for v, text in zip(numbers[share], shown[share], strict=True):
        assert text == f"{v * 100:.1f}%", (v, text)
    gaps = [c for c in shown.columns if c == dp.t("dp_gap", lang)]
    assert not gaps  # the demo's champion logs no per-district calibration: see below
    cols = [dp.t(k, lang) for k in ("dp_predicted", "dp_observed", "dp_gap")]
    cal = pd.DataFrame({c: [0.0123, None] for c in cols}).style.format(dp.table_formats(cols, lang))
    shown_cal = cal.to_string(delimiter="|").splitlines()[1].split("|")[1:]
    assert shown_cal == ["1.2%", "1.2%", "+1.2" + gap], shown_cal
