"""The dashboard's lake reads follow the lake: a corrected name is shown at once (the
cached reads are keyed on the Delta table's version), an unchanged table stays cached."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")

from dashboard import lake_reads
from riskwarn import lake


def _site(name: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "source": "test",
                "record_id": "S1",
                "name": name,
                "hazard_type": "landslide",
                "lon": 116.2,
                "lat": 30.8,
                "slope_class": 4,
                "people_threatened": 50,
                "volume_m3": 5000.0,
            }
        ]
    )


def _county(name: str) -> pd.DataFrame:
    return pd.DataFrame(
        [{"source": "test", "record_id": "420101", "name": name, "level": "county"}]
    )


def test_a_corrected_name_is_read_at_once_and_an_unchanged_table_stays_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake_dir = tmp_path / "lake"
    lake.upsert(lake_dir, "hazard_sites", "test", _site("老名字滑坡"), batch_id="b1")
    lake.upsert(lake_dir, "admin_units", "test", _county("旧区"), batch_id="a1")
    where = str(lake_dir)
    assert lake_reads.hazard_sites(where)["name"].tolist() == ["老名字滑坡"]
    assert lake_reads.unit_names(where) == {"420101": "旧区"}
    # the correction, as `riskwarn ingest` writes it: a new version of the record
    lake.upsert(lake_dir, "hazard_sites", "test", _site("新名字滑坡"), batch_id="b2")
    lake.upsert(lake_dir, "admin_units", "test", _county("新区"), batch_id="a2")
    assert lake.record_history(lake_dir, "hazard_sites", "S1")["name"].tolist()[-1] == "新名字滑坡"
    assert lake_reads.hazard_sites(where)["name"].tolist() == ["新名字滑坡"]
    assert lake_reads.unit_names(where) == {"420101": "新区"}
    # unchanged: served from the cache (the lake is not read again)
    reads: list[str] = []
    real = lake.read_table

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(lake_reads.lake, "read_table", counted)
    assert lake_reads.hazard_sites(where)["name"].tolist() == ["新名字滑坡"]
    assert lake_reads.unit_names(where) == {"420101": "新区"}
    assert reads == []
