"""The geohazard page's probability says what set the level beside it (review 2026-12-06).

The demo's orange site showed "Probability 0.9%" next to "Orange (II)"; the explanation
(the site model's own orange threshold, 0.65%) was only in the site list's Why column,
cut off at 1280 px and behind horizontal scroll at 390 px. Now the probability has two
decimals and, beside it, the model's threshold of the level it set (from the warning's
evidence, ``riskwarn.nowcast.level_sources``) or the source that set the level instead;
an older warning without recorded sources shows its probability alone. The velocity
chart no longer runs a trailing mean past the last displacement reading (the demo site's
line climbed 7.4 -> 20 mm/day over four days without a reading, to the plot's top edge),
and its axis keeps room above the largest value.

The demo home is built for a fixed past day (a replay: the site warnings are in force
whatever the calendar says).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard import auth, sensors, views
from testkit.dashboard_demo import dashboard_env, demo_home

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
MODEL_EV: dict[str, Any] = {"model_level": "orange", "model_threshold": 0.0065, "rules_level": None}


def test_probability_note_names_the_models_threshold_or_the_source() -> None:
    assert views.probability_note("model", 0.0065, "orange", "en") == "Orange (II) from 0.65%"
    assert views.probability_note("model", 0.0065, "orange", "zh") == "橙色（II级）自 0.65% 起"
    assert views.probability_note("sensor_rule", None, None, "en") == "level set by a sensor rule"
    assert views.probability_note("sensor_rule", None, None, "zh") == "等级由传感器规则给出"
    assert views.probability_note("stream", None, None, "zh") == "等级由实时监测给出"
    # an older warning (no recorded threshold) and a quiet site: the probability alone
    assert views.probability_note("model", None, None, "en") is None
    assert views.probability_note("none", None, None, "en") is None


def test_velocity_stops_at_the_last_displacement_reading() -> None:
    hours = pd.date_range("2023-08-01", periods=24 * 10, freq="h", tz="UTC")
    disp = np.r_[np.zeros(24 * 8), np.linspace(0, 40, 24 * 2)]  # a jump, then silence
    rain = pd.date_range("2023-08-01", periods=24 * 15, freq="h", tz="UTC")  # rain runs on
    readings = pd.concat(
        [
            pd.DataFrame(
                {"sensor_id": "g", "observed_at": hours, "quantity": "displacement_mm"}
            ).assign(value=disp),
            pd.DataFrame({"sensor_id": "r", "observed_at": rain, "quantity": "rain_mm"}).assign(
                value=0.5
            ),
        ]
    )
    daily = sensors.daily_site_series(readings)
    v = daily.set_index("day")["velocity_mm_per_day"]
    last = daily.dropna(subset=["displacement_mm"])["day"].max()
    assert v.loc[last] == pytest.approx(v.dropna().iloc[-1])
    assert v.loc[v.index > last].isna().all()  # no trailing mean over days without readings
    lo, hi = sensors.axis_domain(v)
    assert lo == 0 and hi > v.max()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("prob") / "home"
    city = demo_home(
        home, n_cells=120, weeks=1, n_cases=5, today=pd.Timestamp("2026-03-04 02:00", tz="UTC")
    )
    table = sa.table(
        "warnings",
        *(sa.column(c) for c in ("warning_id", "unit_id", "domain", "level", "level_rank")),
        sa.column("probability"),
        sa.column("evidence", sa.JSON),
    )
    engine = sa.create_engine(city.store_url)
    with engine.begin() as conn:
        wid, site = conn.execute(
            sa.select(table.c.warning_id, table.c.unit_id).where(
                (table.c.domain == "geohazard") & (table.c.level == "yellow")
            )
        ).one()
        conn.execute(
            sa.update(table)
            .where(table.c.warning_id == wid)
            .values(level="orange", level_rank=3, probability=0.0087, evidence=MODEL_EV)
        )
    engine.dispose()
    mp = pytest.MonkeyPatch()
    dashboard_env(mp, home, city.store_url)
    yield str(site)
    mp.undo()


@pytest.mark.parametrize(
    ("lang", "note"), [("en", "Orange (II) from 0.65%"), ("zh", "橙色（II级）自 0.65% 起")]
)
def test_the_site_detail_shows_the_threshold_beside_the_probability(
    home: str, lang: str, note: str
) -> None:
    role, name = auth.DEMO_USERS["leader"]
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.session_state["user"] = auth.User(username="leader", name=name, role=role)
    at.session_state["lang"] = lang
    at.switch_page("pages/geohazard.py").run()
    at.selectbox(key="gh_site").set_value(home).run()
    assert not at.exception, [e.value for e in at.exception]
    (prob,) = [m for m in at.metric if m.label in ("Probability", "概率")]
    assert prob.value == "0.87%"
    assert prob.delta == note
    velocity = [
        json.loads(c.proto.spec)["encoding"]["y"]
        for c in at.get("vega_lite_chart")
        if json.loads(c.proto.spec).get("encoding", {}).get("y", {}).get("field")
        == "velocity_mm_per_day"
    ]
    # the axis is set from the data with room above (sensors.axis_domain), not left to
    # Vega's nice rounding, which ended the demo's axis exactly at its largest value
    assert velocity and all(y["scale"]["domain"][1] > 0 for y in velocity)
