"""``riskwarn backtest``: rolling-origin backtests of riskwarn beside the classic methods.

IO edge only: read the events through the source mapping (``riskwarn.ingest``, without
touching the lake), call the pure backtest, write ``scores.parquet`` and ``metrics.json``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pandas as pd

log = logging.getLogger(__name__)


def read_source(source: Path, file: Path) -> tuple[pd.DataFrame, str]:
    """Read and validate ``file`` through the mapping ``source``; return rows and time zone."""
    from riskwarn.ingest import read_and_validate
    from riskwarn.settings import load_settings
    from riskwarn.sources import load_mapping

    try:
        mapping = load_mapping(source)
    except Exception as exc:  # a broken mapping file is the user's to fix
        raise click.ClickException(f"cannot load source mapping {source}: {exc}") from None
    from riskwarn.keys import PseudonymKeyError, pseudonym_key_for

    try:
        key = pseudonym_key_for(load_settings(), mapping)
    except PseudonymKeyError as exc:
        raise click.ClickException(str(exc)) from None
    batch = read_and_validate(mapping, file, pseudonym_key=key, as_of=datetime.now(UTC))
    if batch.accepted.empty:
        raise click.ClickException(f"no valid rows in {file} ({len(batch.quarantine)} quarantined)")
    log.info(
        "%s: %d rows accepted, %d quarantined", file, len(batch.accepted), len(batch.quarantine)
    )
    return batch.accepted, mapping.timezone


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if hasattr(obj, "item"):
        return _jsonable(obj.item())
    return obj


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as pretty JSON (NaN -> null)."""
    path.write_text(json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n")


def _date(value: str, name: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(value)
    except ValueError:
        raise click.UsageError(f"--{name}: not a date: {value!r}") from None


def read_study_area(path: Path):
    """A study-area polygon from ``path``: GeoJSON (a geometry, Feature or
    FeatureCollection, WGS84 as GeoJSON requires) or WKT in WGS84 lon/lat; several
    polygons are joined into one area."""
    import shapely
    from shapely.geometry import shape

    text = path.read_text(encoding="utf-8").strip()
    try:
        if text.startswith("{"):
            doc = json.loads(text)
            if doc.get("type") == "FeatureCollection":
                geoms = [shape(f["geometry"]) for f in doc.get("features", [])]
            elif doc.get("type") == "Feature":
                geoms = [shape(doc["geometry"])]
            else:
                geoms = [shape(doc)]
        else:
            geoms = [shapely.from_wkt(text)]
    except (ValueError, KeyError, TypeError, shapely.errors.ShapelyError) as exc:
        raise click.UsageError(f"--study-area {path}: not GeoJSON or WKT: {exc}") from None
    area = shapely.union_all(geoms) if geoms else None
    if area is None or area.is_empty or area.geom_type not in ("Polygon", "MultiPolygon"):
        raise click.UsageError(f"--study-area {path}: needs a polygon or multipolygon")
    lon_lo, lat_lo, lon_hi, lat_hi = area.bounds
    if not (-180 <= lon_lo <= lon_hi <= 180 and -90 <= lat_lo <= lat_hi <= 90):
        raise click.UsageError(f"--study-area {path}: coordinates are not WGS84 lon/lat")
    return area


@click.group()
def backtest() -> None:
    """Rolling-origin backtests (model and baselines) on a city's own history."""


@backtest.command("incidents")
@click.option(
    "--source",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Source mapping file (configs/sources/*.yaml).",
)
@click.option(
    "--events",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Events extract read through the mapping.",
)
@click.option(
    "--cell-size",
    type=click.FloatRange(min=1),
    default=250.0,
    show_default=True,
    help="Cell size, metres.",
)
@click.option("--crs", default="EPSG:32616", show_default=True, help="Projected CRS of the grid.")
@click.option(
    "--holidays",
    default="US",
    show_default=True,
    help="The city's public-holiday calendar (a `holidays` country code: US, CN, HK, CA...); "
    "like --crs, the default is Chicago's.",
)
@click.option("--horizon-days", type=click.IntRange(min=1), default=7, show_default=True)
@click.option("--step-days", type=click.IntRange(min=1), default=7, show_default=True)
@click.option("--start", required=True, help="First origin (local date).")
@click.option("--end", required=True, help="Last possible origin (local date).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--objective",
    default="rank:pairwise",
    show_default=True,
    type=click.Choice(["rank:pairwise", "rank:ndcg", "count:poisson"]),
)
@click.option(
    "--refit-days",
    type=click.IntRange(min=1),
    default=28,
    show_default=True,
    help="Refit the model every N days.",
)
@click.option(
    "--train-step-days",
    type=click.IntRange(min=1),
    default=None,
    help="Spacing of training origins (default: step, at least 7 for speed).",
)
@click.option(
    "--train-window-days",
    type=click.IntRange(min=56),
    default=728,
    show_default=True,
    help="Days of training origins before each refit.",
)
@click.option(
    "--location-groups",
    default="",
    help="Comma list of location_type values with their own counts, e.g. street,residence.",
)
@click.option(
    "--study-area",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Polygon (GeoJSON or WKT, WGS84) whose cells are scored, events or not; "
    "default: every cell with an event before --start.",
)
@click.option(
    "--blend/--no-blend",
    default=True,
    show_default=True,
    help="Blend the model with a stacked baseline score, weight chosen at each refit on "
    "the validation slices (models.backtest.Blend); --no-blend: the booster alone.",
)
@click.option(
    "--negative-rate",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=None,
    help="Share of the fit-only rows without an event the boosters are grown on "
    "(case-control subsampling; 1: every row); default: the model's "
    "(models.backtest.ModelConfig.negative_rate).",
)
@click.option(
    "--max-bin",
    type=click.IntRange(min=2),
    default=None,
    help="Histogram bins per feature of the boosters (XGBoost max_bin); default: the "
    "model's (models.backtest.ModelConfig.base_params).",
)
@click.option("--max-cells", type=click.IntRange(min=10), default=None, hidden=True)
def incidents(
    source: Path,
    events: Path,
    cell_size: float,
    crs: str,
    holidays: str,
    horizon_days: int,
    step_days: int,
    start: str,
    end: str,
    out: Path,
    objective: str,
    refit_days: int,
    train_step_days: int | None,
    train_window_days: int,
    location_groups: str,
    study_area: Path | None,
    blend: bool,
    negative_rate: float | None,
    max_bin: int | None,
    max_cells: int | None,
) -> None:
    """Weekly (or daily) cell hotspot backtest of incidents (a mapping of occurred_at):
    xgboost beside every baseline. A disputes mapping is the dispute-hotspot backtest
    (`riskwarn backtest disputes`)."""
    from features.cells import cells_in_area
    from models.backtest import ModelConfig, with_max_bin
    from models.hotspot_backtest import (
        HotspotBacktestSpec,
        outside_for_output,
        run_hotspot_backtest,
        scores_for_output,
    )

    s, e = _date(start, "start"), _date(end, "end")
    if e < s:
        raise click.UsageError("--end is before --start")
    area = read_study_area(study_area) if study_area is not None else None
    frame, tz = read_source(source, events)
    if click.get_current_context().info_name == "disputes" and "opened_at" not in frame.columns:
        # `backtest disputes` ran an incidents mapping's incidents backtest, as if disputes
        raise click.ClickException(
            f"{source} does not map disputes (opened_at)"
            + (
                ": it maps incidents, `riskwarn backtest incidents`"
                if "occurred_at" in frame.columns
                else ""
            )
        )
    group_column = "category_group"
    if "occurred_at" not in frame.columns and "opened_at" in frame.columns:
        # a disputes mapping: a dispute counts where and when it was opened (the
        # dispute-hotspot domain of riskwarn train); party fields never reach features
        frame = frame.rename(columns={"opened_at": "occurred_at"})
        group_column = "category"
    if "occurred_at" not in frame.columns:
        raise click.ClickException(
            f"{source} maps neither incidents (occurred_at) nor disputes (opened_at)"
        )
    spec = HotspotBacktestSpec(
        crs=crs,
        cell_size_m=cell_size,
        tz=tz,
        start=s,
        end=e,
        holiday_country=holidays,
        horizon_days=horizon_days,
        step_days=step_days,
        train_step_days=train_step_days or max(step_days, 7),
        model=with_max_bin(
            ModelConfig(
                objective=objective,
                refit_every_days=refit_days,
                train_window_days=train_window_days,
                blend=blend,
                negative_rate=ModelConfig.negative_rate if negative_rate is None else negative_rate,
            ),
            max_bin,
        ),
        max_cells=max_cells,
        group_column=group_column,
    )
    groups = tuple(g.strip() for g in location_groups.split(",") if g.strip())
    if groups:
        if "location_type" not in frame.columns:
            raise click.UsageError("--location-groups needs a mapped location_type column")
        spec = replace(spec, feature_groups=groups, group_column="location_type")
    try:
        area_cells = cells_in_area(area, cell_size, crs) if area is not None else None
        result = run_hotspot_backtest(frame, spec, area_cells)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    scores_for_output(result.scores, tz).to_parquet(out / "scores.parquet", index=False)
    outside_for_output(result.outside, tz).to_parquet(
        out / "events_outside_area.parquet", index=False
    )
    write_json(out / "metrics.json", result.metrics)
    m = result.metrics["methods"]
    for name in sorted(m, key=lambda k: -m[k]["pai@0.05"]):
        lo, hi = m[name]["pai@0.05_ci"]
        click.echo(
            f"{name:12s} PAI@5% {m[name]['pai@0.05']:.2f} [{lo:.2f}, {hi:.2f}]  "
            f"HR@5% {m[name]['hit_rate@0.05']:.3f}"
        )
    x = m.get("xgboost", {})
    click.echo(
        f"every event counted: {x.get('events', 0):.0f} in the windows, "
        f"{result.metrics.get('events_outside_area', 0):.0f} of them in cells outside the "
        "scored area (misses for every method); "
        f"{result.metrics.get('events_without_coordinates', 0)} more without coordinates "
        "(no cell: in no method's count)"
    )
    click.echo(
        f"gap closed: {result.metrics.get('gap_closed_share', float('nan')):.2f}; "
        f"{result.metrics['n_active_cells']} cells, {result.metrics['n_origins']} origins, "
        f"{result.timings_s['total_s']:.0f} s -> {out}"
    )


@backtest.command("geohazard")
@click.option(
    "--source",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Mapping of the hazard-event (landslide) extract.",
)
@click.option(
    "--events", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
@click.option(
    "--rainfall-source",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Mapping of the daily rainfall extract.",
)
@click.option(
    "--rainfall", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
@click.option("--cell-size", type=click.FloatRange(min=1), default=1000.0, show_default=True)
@click.option("--crs", default="EPSG:2326", show_default=True)
@click.option(
    "--horizon-days",
    type=click.IntRange(min=1, max=1),
    default=1,
    show_default=True,
    help="Daily nowcasts only.",
)
@click.option("--start", required=True)
@click.option("--end", required=True)
@click.option(
    "--train-start",
    default=None,
    help="First training day (default: 1 January of the landslide record's first year).",
)
@click.option("--major-threshold", type=click.IntRange(min=2), default=10, show_default=True)
@click.option(
    "--crossfit",
    is_flag=True,
    help="Also score ceiling_crossfit (ex post: the model fitted on every other year).",
)
@click.option(
    "--n-boot",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Month-block bootstrap resamples for CIs (0: point values only).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def geohazard(
    source: Path,
    events: Path,
    rainfall_source: Path,
    rainfall: Path,
    cell_size: float,
    crs: str,
    horizon_days: int,
    start: str,
    end: str,
    train_start: str | None,
    major_threshold: int,
    crossfit: bool,
    n_boot: int,
    out: Path,
) -> None:
    """Daily city-wide landslide nowcasts (expected landslides per day, P(>=1), P(>=major),
    levels) beside the Caine / Guzzetti / effective-rain / 72-hour-rain rules."""
    from features.cells import active_cells, assign_cells
    from features.landslide_reporting import landslide_days
    from features.rain_indices import rain_indices
    from models.geohazard import (
        CITY_COLUMNS,
        CROSSFIT,
        GeohazardSpec,
        cell_daily_scores,
        cell_hit_rates,
        daily_rain,
        native_threshold_metrics,
        run_citywide_backtest,
    )
    from models.nowcast_skill import nowcast_skill

    s, e = _date(start, "start"), _date(end, "end")
    if e < s:
        raise click.UsageError("--end is before --start")
    ev, tz = read_source(source, events)
    readings, _ = read_source(rainfall_source, rainfall)
    if "observed_at" not in readings.columns:
        raise click.ClickException(f"{rainfall_source} does not map to sensor readings")
    rain = daily_rain(readings, tz)
    spec = GeohazardSpec(
        tz=tz,
        start=s,
        end=e,
        train_start=_date(train_start, "train-start") if train_start else None,
        major_threshold=major_threshold,
    )
    try:
        city, meta = run_citywide_backtest(rain, landslide_days(ev, tz), spec, crossfit=crossfit)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    first = city.drop_duplicates("date")
    counts = pd.Series(first["n_events"].to_numpy(), index=pd.to_datetime(first["date"]))
    skill = nowcast_skill(
        city, counts, major_threshold, exclude_from_rules=(CROSSFIT,), n_boot=n_boot
    )
    metrics: dict[str, Any] = {
        "methods": {
            m: {t: {k: v["value"] for k, v in by.items()} for t, by in per.items()}
            for m, per in skill["methods"].items()
        },
        "skill": skill,
        **meta,
    }
    window = rain_indices(rain).loc[s:e]
    metrics["native_thresholds"] = native_threshold_metrics(
        window, counts.reindex(window.index).fillna(0).to_numpy(), major_threshold
    )
    cells_ev = assign_cells(ev, crs, cell_size).dropna(subset=["cell_x", "cell_y"])
    cells_ev = cells_ev.astype({"cell_x": "int64", "cell_y": "int64"})
    start_utc = s.tz_localize(tz).tz_convert("UTC")
    cells = active_cells(cells_ev, start_utc)
    cell_city = city[city["method"] != CROSSFIT]
    scores = cell_daily_scores(cell_city, cells_ev, cells, tz)
    in_window = cells_ev[(cells_ev["occurred_at"] >= start_utc)]
    metrics["cell_hit_rates_on_event_days"] = cell_hit_rates(scores, in_window, tz)
    metrics["n_active_cells"] = len(cells)
    out.mkdir(parents=True, exist_ok=True)
    city[[*CITY_COLUMNS, "level_prev_day", "n_events"]].to_parquet(
        out / "citywide.parquet", index=False
    )
    scores.to_parquet(out / "scores.parquet", index=False)
    write_json(out / "metrics.json", metrics)
    m = metrics["methods"]
    for name in sorted(m):
        a, b = m[name]["any"], m[name]["major"]
        click.echo(
            f"{name:17s} >=1: AUC {a['auc']:.3f} BSS {a['bss']:.3f}  >={major_threshold}: AUC "
            f"{b['auc']:.3f} BSS {b['bss']:.3f} TSS@red {b['tss@red']:.3f}"
        )
    click.echo(f"-> {out}")


def _disputes_params() -> list[click.Parameter]:
    """``incidents``' options, ``--events`` naming the disputes extract."""
    params = [copy.copy(p) for p in incidents.params]
    for p in params:
        if isinstance(p, click.Option) and p.name == "events":
            p.help = "Disputes extract read through the mapping (opened_at: where and when each dispute was opened)."
    return params


# the same cell backtest on a disputes mapping, with its own help: it was `incidents`
# registered a second time, so `backtest disputes --help` said "backtest of incidents"
disputes = click.Command(
    "disputes",
    callback=incidents.callback,
    params=_disputes_params(),
    help="Weekly (or daily) cell hotspot backtest of disputes (a disputes mapping: a dispute "
    "counts where and when it was opened, opened_at): xgboost beside every baseline. "
    "Refused for a mapping without opened_at (an incidents one: `riskwarn backtest incidents`).",
)
backtest.add_command(disputes)


@backtest.command("communities")
@click.option(
    "--eval-weeks",
    type=click.IntRange(min=1),
    default=26,
    show_default=True,
    help="Weekly origins scored (the newest; the last one's week ends on the data's last day).",
)
@click.option(
    "--first-train-week",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Weeks of data before the first training origin.",
)
@click.option(
    "--n-boot",
    type=click.IntRange(min=100),
    default=2000,
    show_default=True,
    help="Paired bootstrap resamples over weeks for the CIs.",
)
@click.option("--rounds", type=click.IntRange(min=1), default=200, show_default=True)
@click.option(
    "--offset",
    default="best",
    show_default=True,
    help="The baseline the trees start from: best (chosen on the past at each origin), "
    "last_4w, long_run, population_rate, or none.",
)
@click.option(
    "--sim",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The simulation's folder (a demo home's sim/): adds its ground truth as `truth`.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write windows.parquet (per method and week) and metrics.json here.",
)
def communities(
    eval_weeks: int,
    first_train_week: int,
    n_boot: int,
    rounds: int,
    offset: str,
    sim: Path | None,
    out: Path | None,
) -> None:
    """Weekly civil disputes by community (村/社区) from the home's lake: the Poisson model
    against the rules (last_4w, long_run, population_rate) on the same community-weeks,
    rolling weekly origins, features only from the disputes opened before each origin in
    the versions known then. Prints the pooled table and the model minus each rule with
    95 % paired bootstrap CIs over weeks and the verdict (win / loss / tie), and which
    method the dashboard serves. Reads `disputes` (opened_at, admin_code) and
    `admin_units` of RISKWARN_HOME's lake only."""
    from features.communities import BASELINES, SERVED, CommunityParams
    from features.communities import communities as community_units
    from models.community_backtest import (
        CEILING,
        FRACTIONS,
        MODEL,
        CommunityBacktest,
        CommunityModelConfig,
        best_baseline,
        comparison_table,
        gap_closed,
        method_windows,
        pooled,
        run_community_backtest,
        sim_truth_scores,
        weekly_origins,
    )
    from models.metrics import bootstrap_ci, hotspot_statistic
    from riskwarn import lake
    from riskwarn.settings import load_settings

    if offset not in ("best", "none", *BASELINES):
        raise click.UsageError(f"--offset {offset!r}: one of best, none, {', '.join(BASELINES)}")
    s = load_settings()
    tz = s.display_tz
    units_raw = lake.read_table(s.lake_dir, "admin_units")
    if units_raw.empty or not (units_raw["level"] == "community").any():
        raise click.ClickException(
            f"no community in the lake's admin_units ({s.lake_dir}): ingest the admin units "
            "(level community) first"
        )
    disputes = lake.read_versions(s.lake_dir, "disputes")
    if disputes.empty:
        raise click.ClickException(f"no dispute in the lake ({s.lake_dir}): ingest disputes first")
    disputes = disputes.loc[
        :, [c for c in ("opened_at", "admin_code", "known_from", "known_to") if c in disputes]
    ]
    units = community_units(units_raw, s.city_crs)
    weeks = weekly_origins(disputes["opened_at"], tz, first_train_week)
    if len(weeks) < eval_weeks + 1:
        raise click.ClickException(
            f"the lake's disputes give {len(weeks)} weekly origins after {first_train_week} "
            f"weeks of data: too few for {eval_weeks} evaluation weeks and one to train on "
            "(lower --eval-weeks or --first-train-week)"
        )
    eval_origins = weeks[-eval_weeks:]
    config = CommunityModelConfig(rounds=rounds, offset=None if offset == "none" else offset)
    bt = run_community_backtest(
        disputes, units, eval_origins, weeks, CommunityParams(tz=tz), config
    )
    TRUTH = "truth"
    if sim is not None:
        try:
            truth = sim_truth_scores(sim, bt.scores, tz)
        except (OSError, KeyError, ValueError) as exc:
            raise click.ClickException(f"--sim {sim}: no readable ground truth: {exc}") from None
        bt = CommunityBacktest(
            bt.scores.assign(**{TRUTH: truth}), bt.outside, [*bt.methods, TRUTH], bt.offsets
        )
    w = method_windows(bt)
    summary = pooled(w)
    outside = int(bt.outside["outside_count"].sum())
    click.echo(
        f"{len(eval_origins)} weekly origins {eval_origins[0].tz_convert(tz).date()}.."
        f"{eval_origins[-1].tz_convert(tz).date()} (local), {len(units)} communities, "
        f"{int(summary['events'].iloc[0])} disputes in the windows ({outside} in no "
        f"community: misses for every method); training origins from "
        f"{weeks[0].tz_convert(tz).date()}; {rounds} rounds, offset {offset}"
    )
    cols = ["method"]
    for f in FRACTIONS:
        cols += [f"hit_rate@{f:g}", f"pai@{f:g}"]
    cols += ["area_share@0.05", "pai_area@0.05", "hit_rate_area@0.05", "deviance", "brier"]
    table = summary[cols].copy()
    cis = []
    for m in table["method"]:
        mw = w[w["method"] == m].sort_values("origin").reset_index(drop=True)
        lo, hi = bootstrap_ci(mw, hotspot_statistic("pai", 0.05), n_boot=n_boot)
        cis.append(f"[{lo:.2f}, {hi:.2f}]")
    table.insert(5, "pai@0.05 CI", cis)
    table["method"] = [
        f"{m} (ex post)" if m == CEILING else f"{m} (served)" if m == SERVED else m
        for m in table["method"]
    ]
    click.echo("\nPooled over the weeks: hit rate (HR) and PAI at k % of the communities by count;")
    click.echo("area share and PAI over area of the top 5 %; HR at 5 % of the area; deviance and")
    click.echo("Brier per community-week (lower is better); PAI CI: bootstrap over weeks.")
    with pd.option_context("display.width", 240, "display.max_columns", 40):
        click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    against = [*BASELINES, *([TRUTH] if sim is not None else [])]
    cmp = comparison_table(w, against, MODEL, n_boot=n_boot)
    click.echo(
        f"\n{MODEL} minus each rule, 95 % paired bootstrap CIs over the {len(eval_origins)} "
        f"weeks ({n_boot} resamples); verdict from the CI (models.metrics.paired_verdict):"
    )
    shown = cmp.assign(
        difference=[
            f"{d:+.5f} [{lo:+.5f}, {hi:+.5f}]"
            for d, lo, hi in zip(cmp["diff"], cmp["lo"], cmp["hi"], strict=True)
        ]
    )
    with pd.option_context("display.width", 240):
        click.echo(shown[["against", "metric", "difference", "verdict"]].to_string(index=False))
    best = best_baseline(summary)
    vs_served = cmp[(cmp["against"] == SERVED) & (cmp["metric"] == "hit_rate@0.05")].iloc[0]
    click.echo(
        f"\nbest rule at HR@5%: {best}; share of its gap to the ceiling the model closes: "
        f"{gap_closed(summary):.2f}; model vs {SERVED} at HR@5%: {vs_served['verdict']}. "
        f"The dashboard serves {SERVED} (features.communities.SERVED), published by the "
        "scoring DAG; the ceiling is ex post."
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        w.to_parquet(out / "windows.parquet", index=False)
        write_json(
            out / "metrics.json",
            {
                "origins": [o.isoformat() for o in eval_origins],
                "communities": len(units),
                "served": SERVED,
                "pooled": summary.to_dict(orient="records"),
                "comparisons": cmp.to_dict(orient="records"),
                "offsets": {o.isoformat(): b for o, b in bt.offsets.items()},
            },
        )
        click.echo(f"-> {out}")
