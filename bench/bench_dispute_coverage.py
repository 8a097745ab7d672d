"""How many dispute events a forecast could rank at all: the share of each weekly
window's disputes in cells with a dispute known before its origin (the scored area,
``features.cells.ActiveArea``), in cells with any dispute or incident known before it (a
populated-area proxy), and in admin units with a dispute known before it; and the share
the top 5% of admin units by past disputes holds. Reads a riskwarn home's lake only.

    RISKWARN_HOME=var .venv/bin/python bench/bench_dispute_coverage.py --weeks 12
"""

from __future__ import annotations

import argparse

import deltalake
import pandas as pd

from features.cells import assign_cells
from riskwarn.settings import load_settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=12, help="weekly windows before the data end")
    args = ap.parse_args()
    s = load_settings()
    lake = s.lake_dir
    d = assign_cells(
        deltalake.DeltaTable(str(lake / "disputes")).to_pandas(), s.city_crs, s.cell_size_m
    )
    i = assign_cells(
        deltalake.DeltaTable(str(lake / "incidents")).to_pandas(), s.city_crs, s.cell_size_m
    )
    d["t"] = pd.to_datetime(d["opened_at"], utc=True)
    i["t"] = pd.to_datetime(i[["occurred_at", "reported_at"]].max(axis=1), utc=True)
    d["k"] = list(zip(d["cell_x"], d["cell_y"], strict=True))
    i["k"] = list(zip(i["cell_x"], i["cell_y"], strict=True))
    units = d["admin_code"].unique()
    end = d["t"].max().normalize()
    origins = [end - pd.Timedelta(days=7 * (n + 1)) for n in range(args.weeks)][::-1]
    tot = cells = populated = admin = top = 0
    for o in origins:
        before = d[d["t"] < o]
        w = d[(d["t"] >= o) & (d["t"] < o + pd.Timedelta(days=7))]
        known = set(before["k"])
        past = before["admin_code"].value_counts().reindex(units, fill_value=0)
        best = set(
            past.sort_values(ascending=False, kind="stable").index[: round(0.05 * len(units))]
        )
        tot += len(w)
        cells += int(w["k"].isin(known).sum())
        populated += int(w["k"].isin(known | set(i.loc[i["t"] < o, "k"])).sum())
        admin += int(w["admin_code"].isin(set(before["admin_code"])).sum())
        top += int(w["admin_code"].isin(best).sum())
    print(
        f"{len(origins)} weekly windows {origins[0].date()}..{origins[-1].date()}, {tot} disputes, cell {s.cell_size_m} m"
    )
    for name, n in (
        ("in cells with a dispute known before the origin (scored area)", cells),
        ("in cells with a dispute or incident known before it", populated),
        ("in admin units with a dispute known before it", admin),
        (f"in the top 5% of {len(units)} admin units by past disputes", top),
    ):
        print(f"  {name}: {n} ({n / tot:.1%})")


if __name__ == "__main__":
    main()
