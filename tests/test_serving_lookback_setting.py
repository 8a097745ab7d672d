"""The serving read window is a setting, ``serving_lookback_days`` (``RISKWARN_SERVING_LOOKBACK_DAYS``).

Before, it was code: ``riskwarn/stream/model.py: LOOKBACK_DAYS = 35`` and the nowcast's
``lookback_days=35``; a city whose sensors report monthly was told by the feature
build's look-back warning to raise "settings" it could not set. Now the nowcast, daily
site scoring and the stream's site model read the setting (default 35 days), refused in
one line below what the features and rules look back
(``riskwarn.serving_frames.serving_read_floor``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from riskwarn.settings import Settings

ORIGIN = pd.Timestamp("2024-07-10T12:00Z")
DOMAIN = "geohazard_hourly"
SILENT_DAYS = 45  # the sensor's last reading: older than the default 44 days; its first: 50


def _old_readings() -> pd.Series:
    """g1's hourly displacement, its last reading SILENT_DAYS before ORIGIN."""
    end = ORIGIN - pd.Timedelta(days=SILENT_DAYS)
    idx = pd.date_range(end - pd.Timedelta(days=5), end, freq="h")
    return pd.Series(np.linspace(0.0, 5.0, len(idx)), idx)


def _nowcast_input(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    """The readings the nowcast at ORIGIN hands its site model (and sensor rules) for a
    lake whose one sensor, g1 of site s1, fell silent SILENT_DAYS before it."""
    from riskwarn import nowcast
    from riskwarn.store import Store
    from tests.test_scoring import _site_lake

    _site_lake(settings, {"g1": ("s1", "gnss")}, {"g1": _old_readings()})
    seen: list[pd.DataFrame] = []
    serve = nowcast.serve_site_model

    def spy(champion: Any, sites: Any, sensors: Any, readings: pd.DataFrame, *a: Any) -> Any:
        seen.append(readings)
        return serve(champion, sites, sensors, readings, *a)

    monkeypatch.setattr(nowcast, "serve_site_model", spy)
    with Store.from_settings(settings) as store:
        store.upgrade()
        nowcast.nowcast_geohazard(settings, ORIGIN, store=store)
        assert "s1" in set(store.warnings(domain=DOMAIN)["unit_id"])
    (readings,) = seen
    return readings


@pytest.mark.parametrize("days", [None, 50])
def test_the_setting_reaches_the_nowcasts_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, days: int | None
) -> None:
    """g1's readings are 45-50 days old: outside the default 44-day read (the nowcast
    gets none), inside a 50-day one (the nowcast's site model and rules get all of
    them). Before, 50 days could not be set: the nowcast read 35 whatever the settings."""
    given: dict[str, Any] = {} if days is None else {"serving_lookback_days": days}
    settings = Settings(home=tmp_path / "home", **given)
    settings.home.mkdir()
    got = _nowcast_input(settings, monkeypatch)
    if days is None:
        assert got.empty
    else:
        lo = ORIGIN - pd.Timedelta(days=days)
        want = _old_readings()
        want = want[want.index >= lo]
        assert len(want) and list(got["observed_at"]) == list(want.index)
        assert got["observed_at"].max() == ORIGIN - pd.Timedelta(days=SILENT_DAYS)


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from riskwarn.serving_frames import serving_lookback_days
    from riskwarn.settings import load_settings

    assert serving_lookback_days(load_settings()) == 44
    monkeypatch.setenv("RISKWARN_SERVING_LOOKBACK_DAYS", "62")
    assert serving_lookback_days(load_settings()) == 62


def test_a_window_below_what_the_features_look_back_is_refused(tmp_path: Path) -> None:
    """Below the drift flag's look-back (44 days) serving would compute other values than
    training: refused in one line naming the variable and what needs the days, before
    the nowcast writes anything."""
    from riskwarn.nowcast import nowcast_geohazard
    from riskwarn.serving_frames import ServingWindowTooShort
    from riskwarn.settings import SettingsError
    from riskwarn.store import Store

    settings = Settings(home=tmp_path / "home", serving_lookback_days=20)
    settings.home.mkdir()
    with Store.from_settings(settings) as store:
        store.upgrade()
        with pytest.raises(ServingWindowTooShort) as got:
            nowcast_geohazard(settings, ORIGIN, store=store)
        assert store.runs(DOMAIN).empty
    text = str(got.value)
    assert isinstance(got.value, SettingsError)  # the CLI's one error line, exit 2
    assert text.startswith("RISKWARN_SERVING_LOOKBACK_DAYS=20: serving must read at least 44")
    assert "drift_reference_days 30: 44 days" in text and "\n" not in text
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Settings(serving_lookback_days=0)


def test_the_stream_model_reads_the_setting(tmp_path: Path) -> None:
    """The consumer gives its site model the setting (``StreamConfig.model_lookback_days``,
    from ``riskwarn stream``'s settings): readings 45-50 days old are in the model's input
    with 50 days, not with the default 44 (before: ``LOOKBACK_DAYS = 35`` in code)."""
    from riskwarn.store import Store
    from riskwarn.stream.model import StreamSiteModel
    from testkit.stream_helpers import stream_consumer

    old = _old_readings()
    readings = pd.DataFrame(
        {
            "sensor_id": "g1",
            "observed_at": old.index,
            "interval_s": 0.0,
            "quantity": "displacement_mm",
            "value": old.to_numpy(),
            "quality": "good",
        }
    )
    home = tmp_path / "home"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    c = stream_consumer(
        home, 1, store_url=f"sqlite:///{tmp_path / 's.db'}", mlflow_uri=uri, model_lookback_days=50
    )
    try:
        assert c.model is not None and c.model.lookback_days == 50
        c.model.add(readings, {"g1": "s1"})
        seen = c.model.inputs(["s1"], ORIGIN)[2]
        assert len(seen) == len(readings)
    finally:
        c.store_lock.release()
        c.instance_lock.release()
        c.store.close()
    with Store(f"sqlite:///{tmp_path / 'd.db'}") as store:
        default = StreamSiteModel(uri, store, tmp_path / "lake")
        default.add(readings, {"g1": "s1"})
        assert default.inputs(["s1"], ORIGIN)[2].empty


def test_the_floor_covers_every_site_domains_parameters() -> None:
    """``serving_read_floor`` reads the parameter classes' defaults (cheap at the
    stream's start); every site domain's own parameters (``feature_params``, what its
    table is built with) must fit under it."""
    from features.sensor_readings import reading_lookbacks
    from models.geohazard_sites import feature_params
    from models.site_fit import site_config
    from riskwarn import domains
    from riskwarn.serving_frames import serving_read_floor

    floor, why = serving_read_floor()
    assert floor == 44 and why and all("\n" not in w for w in why)
    for domain in domains.names("site"):
        p = feature_params(site_config(domain))
        assert p.kinematics_lookback_days <= floor, domain
        assert p.dead_after_hours / 24 <= floor, domain
        # every look-back of the domain's table (drift, spikes, rain, health windows)
        assert max(days for days, _ in reading_lookbacks(p)) <= floor, domain


def test_riskwarn_stream_refuses_a_short_window_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``riskwarn stream`` (its site model on) checks the setting before it connects:
    one ``error:`` line, exit 2."""
    from riskwarn.cli import main
    from testkit.stream_helpers import free_port

    monkeypatch.setenv("RISKWARN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKWARN_STORE_URL", raising=False)
    monkeypatch.setenv("RISKWARN_MQTT_PASSWORD", "x")
    monkeypatch.setenv("RISKWARN_SERVING_LOOKBACK_DAYS", "20")
    assert main(["stream", "--port", str(free_port()), "--connect-wait-s", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: RISKWARN_SERVING_LOOKBACK_DAYS=20: serving must read"), err
    assert len(err.splitlines()) == 1, err
