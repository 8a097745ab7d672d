"""The dashboard tests' demo homes are copies of one built once per test process
(testkit.dashboard_demo.keep_templates, on for the whole suite in tests/conftest.py): a
copy holds what a home built anew holds, and each copy is a home of its own."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml

from riskwarn.lake import read_table
from testkit import dashboard_demo

ARGS = {"n_cells": 60, "weeks": 1, "n_cases": 5, "today": pd.Timestamp("2024-06-12T03:00Z")}
# the store's clock when the rows were written (to the microsecond), not the demo city's
# times (whole seconds): a copy was written earlier than a home built now
CLOCK = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d+(\+00:00)?")


def _tables(store_url: str) -> dict[str, pd.DataFrame]:
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
        names = [n for (n,) in conn.execute("select name from sqlite_master where type='table'")]
        frames = {n: pd.read_sql_query(f'select * from "{n}"', conn) for n in names}
    for frame in frames.values():
        for column in frame.select_dtypes("object").columns:
            frame[column] = frame[column].map(
                lambda v: CLOCK.sub("<clock>", v) if isinstance(v, str) else v
            )
    return frames


def test_a_copy_holds_what_a_new_home_holds_and_is_a_home_of_its_own(tmp_path: Path) -> None:
    first = dashboard_demo.demo_home(tmp_path / "first", **ARGS)
    (tmp_path / "second").mkdir()
    (tmp_path / "second").chmod(0o751)  # a home the test made: it keeps its mode
    second = dashboard_demo.demo_home(tmp_path / "second", **ARGS)
    assert (tmp_path / "second").stat().st_mode & 0o777 == 0o751
    dashboard_demo.keep_templates(None)  # this test's own fresh build
    try:
        fresh = dashboard_demo.demo_home(tmp_path / "fresh", **ARGS)
    finally:
        dashboard_demo.keep_templates(tmp_path / "templates")
    for city, home in ((first, tmp_path / "first"), (second, tmp_path / "second")):
        assert city.store_url == f"sqlite:///{(home / 'serving.db').resolve()}"
        assert city.lake_dir == home / "lake"
        assert (city.origin, city.warning_ids, city.n_forecasts) == (
            fresh.origin,
            fresh.warning_ids,
            fresh.n_forecasts,
        )
        tables, expected = _tables(city.store_url), _tables(fresh.store_url)
        assert tables.keys() == expected.keys() and any(len(t) for t in tables.values())
        for name, frame in expected.items():
            pd.testing.assert_frame_equal(tables[name], frame, obj=name)
        for table in ("admin_units", "incidents", "sensor_readings"):
            pd.testing.assert_frame_equal(
                read_table(city.lake_dir, table), read_table(fresh.lake_dir, table), obj=table
            )
        users = yaml.safe_load((home / "users.yaml").read_text())["users"]
        assert (
            users.keys()
            == yaml.safe_load((tmp_path / "fresh" / "users.yaml").read_text())["users"].keys()
        )
    # a copy of its own: what a test writes in one home is not in the other
    with sqlite3.connect(first.store_url.removeprefix("sqlite:///")) as conn:
        conn.execute("delete from warnings")
    assert len(_tables(first.store_url)["warnings"]) == 0
    assert len(_tables(second.store_url)["warnings"]) == len(_tables(fresh.store_url)["warnings"])
    assert len(_tables(second.store_url)["warnings"]) > 0


def test_a_home_on_another_store_is_built_anew(tmp_path: Path) -> None:
    """A home whose store is elsewhere (a PostgreSQL test database) is not copied."""
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    city = dashboard_demo.demo_home(tmp_path / "home", store_url=url, **ARGS)
    assert city.store_url == url and len(_tables(url)["warnings"]) > 0
    assert not (tmp_path / "home" / "serving.db").exists()


@pytest.fixture(autouse=True)
def _restore_templates() -> object:
    """This module's tests switch the templates off and on: the suite's folder after."""
    folder = dashboard_demo._templates["folder"]
    built = dashboard_demo._templates["built"]
    yield
    dashboard_demo._templates.update(folder=folder, built=built)
