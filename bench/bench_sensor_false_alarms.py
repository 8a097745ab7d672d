"""False alarms and lead time of the nowcast's sensor rules, per level, on the simulated city.

    /work/wt/heavy nice -n 5 .venv/bin/python bench/bench_sensor_false_alarms.py \
        [--seed 1] [--sites 360] [--days 1096] [--cache var/bench/sim_hourly]

The geohazard component of ``riskwarn simulate --size city --seed 1`` (the same
geography, configuration and random stream: ``bench/sim_sites.py``), one displacement
reading per hour (the last of the hour's six 10-minute readings, as the nowcast samples
its hourly steps), every displacement sensor through the nowcast's hourly rules
(``NOWCAST_RULES``: 6-hour velocities, improved tangent angle, tertiary-creep and
inverse-velocity rules) at every hour; a site's level at an hour is the highest of its
sensors'. Sensor health (the nowcast's 24 h checks) is not applied: the hourly record has
one reading an hour where the checks expect six, and a single spike never fails them
(spikes are left in, as they reach the rules).

Every figure counts every site and every failure (DOMAIN.md "How forecasts are judged"):

* non-failing sites: sites that reached each level (or above) at any hour; site-hours at
  each level; alarms (episodes: an hour at the level or above after an hour below it) per
  site-year;
* failures at monitored sites: probability of detection (POD) = failures with the level
  or above in the ``--window`` hours before them / all failures (a failure whose sensors
  had died, or that the rules never flagged, is a miss); lead time = hours from the first
  hour at the level or above in that window to the failure, mean over all failures with
  0 h for a miss, and median over the detected;
* false-alarm ratio FAR = alarms not followed by a failure of their site within
  ``--window`` hours / all alarms (non-failing and failing sites; an alarm more than
  ``--window`` hours before its site's failure is false).

``--rules old,new``: old = ``NOWCAST_RULES`` with ``yellow_steps`` 0 (the rules before the
yellow noise gate), new = ``NOWCAST_RULES`` (``yellow_steps`` 2), ``nobands`` =
``NOWCAST_RULES`` without the no-baseline velocity bands (``no_baseline_*_mm_per_day`` 0,
the rules before them), ``k1`` .. ``k4`` =
``yellow_steps`` 1..4, ``gnss12`` / ``gnss24`` / ``gnss48`` = ``NOWCAST_RULES`` with the
GNSS velocity taken as the Theil-Sen slope of the last 12 / 24 / 48 hourly samples
(``SensorRules.robust_steps``; crack meters keep ``NOWCAST_RULES``); ``gnss<W>b<B>``
(e.g. ``gnss24b2``) = the Theil-Sen velocity over W hours with every significance,
acceleration and 1/v test on B non-overlapping windows (``SensorRules.robust_blocks``,
the second attempt), ``gnss<W>b<B>z<Z>`` / ``gnss<W>z<Z>`` the same / the overlapping
windows with ``noise_z`` Z for the GNSS sensors (B independent windows each Z SD above
the floor; one W-hour window Z SD above it, a multiple-testing correction); all on the same simulation
(paired). A variant whose kinematics
differ gets its own kinematics pass (Theil-Sen slopes are computed once per sensor and
window).

``--gnss-noise corr`` adds time-correlated noise to every GNSS reading (failing and
stable sites alike; the simulator's own is white, 2.5 mm per reading) before the rules
see it: :func:`correlated_noise`, sub-daily AR(1) errors (multipath/troposphere),
flicker-like noise (a sum of first-order Gauss-Markov processes with time constants 1-64
days, equal variance each: a 1/f spectrum over that band) and a benchmark random walk;
``--noise-scale`` multiplies all of it.
"""

from __future__ import annotations

import argparse
import functools
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import riskwarn.sensor_rules as sr
from riskwarn.sensor_rules import NOWCAST_RULES, SensorRules, displacement_kinematics, sensor_levels

LEVELS = {1: "blue", 2: "yellow", 3: "orange", 4: "red"}
HOUR = pd.Timedelta(hours=1)


def frames(seed: int, sites: int, days: int, cache: Path | None) -> dict[str, pd.DataFrame]:
    names = ("readings", "sensors", "events", "truth")
    if cache is not None and all((cache / f"{n}.parquet").exists() for n in names):
        return {n: pd.read_parquet(cache / f"{n}.parquet") for n in names}
    from sim_sites import sim_site_frames

    f = sim_site_frames(seed, sites, days, onset_shift=0.0)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for n in names:
            f[n].to_parquet(cache / f"{n}.parquet")
    return f


KINDS = ("gnss", "crack_meter")

# correlated GNSS noise (mm; time constants in hours): sub-daily AR(1), flicker-like band,
# random walk (mm per sqrt(year))
AR_SD, AR_TAU_H = 2.0, 6.0
FLICKER_SD, FLICKER_TAUS_H = 1.0, (24.0, 96.0, 384.0, 1536.0)
RW_MM_PER_SQRT_YEAR = 2.0


def _gauss_markov(rng: np.random.Generator, n: int, sd: float, tau_h: float) -> np.ndarray:
    """Stationary first-order Gauss-Markov (AR(1)) series, hourly, standard deviation ``sd``."""
    phi = float(np.exp(-1.0 / tau_h))
    e = rng.standard_normal(n) * sd * np.sqrt(1 - phi**2)
    e[0] = rng.standard_normal() * sd
    from scipy.signal import lfilter

    return np.asarray(lfilter([1.0], [1.0, -phi], e))


def correlated_noise(rng: np.random.Generator, hours: int, scale: float = 1.0) -> np.ndarray:
    """Hourly time-correlated GNSS position error (mm) over ``hours`` hours."""
    x = _gauss_markov(rng, hours, AR_SD, AR_TAU_H)
    for tau in FLICKER_TAUS_H:
        x += _gauss_markov(rng, hours, FLICKER_SD, tau)
    x += np.cumsum(rng.standard_normal(hours)) * RW_MM_PER_SQRT_YEAR / np.sqrt(24 * 365.25)
    return scale * x


def add_correlated_noise(
    f: dict[str, pd.DataFrame], seed: int, scale: float
) -> dict[str, pd.DataFrame]:
    """``f`` with :func:`correlated_noise` added to every GNSS reading (one process per
    sensor on its hourly grid, seeded per sensor)."""
    gnss = set(f["sensors"].loc[f["sensors"]["sensor_type"] == "gnss", "record_id"])
    r = f["readings"].copy()
    is_g = r["sensor_id"].isin(gnss) & r["value"].notna()
    for n, (_sid, g) in enumerate(r[is_g].groupby("sensor_id", sort=True)):
        h = ((g["observed_at"] - g["observed_at"].min()) / HOUR).round().astype(int).to_numpy()
        noise = correlated_noise(np.random.default_rng([seed, n]), int(h.max()) + 1, scale)
        r.loc[g.index, "value"] = g["value"].to_numpy(float) + noise[h]
    return {**f, "readings": r}


@functools.lru_cache(maxsize=8)
def _theil_sen_cached(k: int, min_n: int, t: bytes, y: bytes) -> np.ndarray:
    return _theil_sen(np.frombuffer(t), np.frombuffer(y), k, min_n)


_theil_sen = sr.rolling_theil_sen


def _theil_sen_memo(t: np.ndarray, y: np.ndarray, k: int, min_n: int) -> np.ndarray:
    """The same slopes, computed once per sensor and window across variants."""
    tb, yb = np.ascontiguousarray(t, float).tobytes(), np.ascontiguousarray(y, float).tobytes()
    return _theil_sen_cached(k, min_n, tb, yb).copy()


sr.rolling_theil_sen = _theil_sen_memo  # type: ignore[assignment]


def sensor_hours(
    f: dict[str, pd.DataFrame], variants: dict[str, dict[str, SensorRules]]
) -> pd.DataFrame:
    """Per displacement sensor and hour: each variant's level (column ``level_<name>``),
    tangent angle, velocity, noise and whether it is above the noise floor (``angle_<name>``
    ...). ``variants``: name -> sensor kind -> rules. Variants whose rules for a kind
    differ only in ``yellow_steps`` (a level rule) share one kinematics pass."""
    sensors = f["sensors"]
    disp = sensors[sensors["sensor_type"].isin(KINDS)].set_index("record_id")
    r = f["readings"]
    r = r[r["sensor_id"].isin(disp.index) & r["value"].notna()]
    out = []
    for sid, g in r.groupby("sensor_id", sort=True):
        kind = str(disp.loc[sid, "sensor_type"])
        at = pd.DatetimeIndex(g["observed_at"])
        series = pd.Series(g["value"].to_numpy(float), index=at)
        kin: dict[SensorRules, pd.DataFrame] = {}
        cols: dict[str, Any] = {}
        for name, by_kind in variants.items():
            rules = by_kind[kind]
            key = replace(rules, yellow_steps=0)
            if key not in kin:
                kin[key] = displacement_kinematics(series, "1h", rules)
            k = kin[key]
            cols[f"level_{name}"] = sensor_levels(k, rules)["sensor_level_rank"].to_numpy(np.int8)
            cols[f"angle_{name}"] = k["tangent_angle_deg"].to_numpy(np.float32)
            cols[f"velocity_{name}"] = k["velocity_mm_per_day"].to_numpy(np.float32)
            cols[f"above_floor_{name}"] = (k["above_noise_run"] > 0).to_numpy()
            cols[f"noise_{name}"] = k["velocity_noise_mm_per_day"].to_numpy(np.float32)
        index = next(iter(kin.values())).index
        assert all(k.index.equals(index) for k in kin.values())
        out.append(
            pd.DataFrame(
                {
                    "sensor_id": sid,
                    "site_id": disp.loc[sid, "site_id"],
                    "kind": kind,
                    "hour": index,
                    **cols,
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def episodes(level: pd.Series, k: int) -> pd.Series:
    """Start hours of runs at level >= k (a site's hourly series, hours contiguous)."""
    on = level >= k
    prev = on.shift(fill_value=False)
    gap = level.index.to_series().diff() != HOUR  # a missing hour ends a run
    return on & (~prev | gap.to_numpy())


def score(sh: pd.DataFrame, f: dict[str, pd.DataFrame], window_h: float) -> dict[str, Any]:
    fail = f["events"].dropna(subset=["site_id"]).groupby("site_id")["occurred_at"].min()
    site = sh.groupby(["site_id", "hour"])["level"].max()
    site_ids = sorted(set(f["sensors"]["site_id"].dropna()))
    win = pd.Timedelta(hours=window_h)
    res: dict[str, Any] = {}
    non = [s for s in site_ids if s not in fail.index]
    hours_non = sum(len(site.loc[s]) for s in non if s in site.index)
    years = hours_non / (24 * 365.25)
    table = []
    for k, name in LEVELS.items():
        reach = sum(int((site.loc[s] >= k).any()) for s in non if s in site.index)
        at_hours = sum(int((site.loc[s] == k).sum()) for s in non if s in site.index)
        n_alarm = sum(int(episodes(site.loc[s], k).sum()) for s in non if s in site.index)
        false_f = true_f = 0
        leads = []
        for s, tf in fail.items():
            if s not in site.index:
                leads.append(np.nan)
                continue
            lv = site.loc[s]
            ep = episodes(lv, k)
            starts = lv.index[ep.to_numpy()]
            true_now = (starts <= tf) & (starts > tf - win)
            true_f += int(true_now.sum())
            false_f += int((~true_now & (starts <= tf)).sum())
            w = lv[(lv.index > tf - win) & (lv.index <= tf)]
            hit = w.index[(w >= k).to_numpy()]
            leads.append((tf - hit.min()) / HOUR if len(hit) else np.nan)
        leads_a = np.asarray(leads, dtype=float)
        n_false = n_alarm + false_f
        table.append(
            {
                "level": name,
                "non-failing sites reaching it": f"{reach} / {len(non)}",
                "site-hours at it": at_hours,
                "alarms per site-year": round(n_alarm / years, 2),
                "POD": f"{int(np.isfinite(leads_a).sum())} / {len(fail)}",
                "mean lead h (miss = 0)": round(float(np.nan_to_num(leads_a).mean()), 1),
                "median lead h (detected)": round(float(np.nanmedian(leads_a)), 1)
                if np.isfinite(leads_a).any()
                else None,
                "FAR": round(n_false / max(n_false + true_f, 1), 3),
            }
        )
    res["non-failing sites"] = len(non)
    res["non-failing site-years"] = round(years, 1)
    res["failures at monitored sites"] = len(fail)
    res["table"] = pd.DataFrame(table)
    # per failure: highest level in the window and lead per level
    per = []
    for s, tf in fail.items():
        lv = site.loc[s] if s in site.index else pd.Series(dtype=int)
        w = lv[(lv.index > tf - win) & (lv.index <= tf)]
        kinds = sorted(set(sh.loc[sh["site_id"] == s, "kind"]))
        row = {"site": s, "sensors": "+".join(kinds), "highest": int(w.max()) if len(w) else 0}
        for k in (2, 3, 4):
            hit = w.index[(w >= k).to_numpy()]
            row[f"{LEVELS[k]} lead h"] = round((tf - hit.min()) / HOUR, 1) if len(hit) else None
        row["last reading before failure h"] = (
            round((tf - lv.index.max()) / HOUR, 1) if len(lv) else None
        )
        per.append(row)
    res["failures"] = pd.DataFrame(per)
    return res


def cause(sh: pd.DataFrame, f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Yellow hours on non-failing sites: by sensor kind, velocity above the noise floor
    (creep + 3 velocity-noise SD) at that hour?"""
    fail = set(f["events"]["site_id"].dropna())
    y = sh[(sh["level"] == 2) & ~sh["site_id"].isin(fail)]
    g = y.groupby("kind")
    return pd.DataFrame(
        {
            "yellow sensor-hours": g.size(),
            "sensors with yellow": g["sensor_id"].nunique(),
            "share above 3-SD noise floor": g["above_floor"].mean().round(3),
            "median tangent angle": g["angle"].median().round(1),
            "median 6-h velocity mm/day": g["velocity"].median().round(2),
            "median velocity noise SD mm/day": g["noise"].median().round(2),
        }
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sites", type=int, default=360)
    p.add_argument("--days", type=int, default=1096)
    p.add_argument("--window", type=float, default=144.0)
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--rules", default="old,new")
    p.add_argument("--gnss-noise", choices=("white", "corr"), default="white")
    p.add_argument("--noise-scale", type=float, default=1.0)
    p.add_argument("--noise-seed", type=int, default=11)
    a = p.parse_args()
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.max_rows", 200)
    t0 = time.perf_counter()
    print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "|", subprocess.getoutput("uptime"))
    f = frames(a.seed, a.sites, a.days, a.cache)
    print(
        f"simulation: seed {a.seed}, {a.sites} sites, {a.days} days ({time.perf_counter() - t0:.0f} s)"
    )
    if a.gnss_noise == "corr":
        f = add_correlated_noise(f, a.noise_seed, a.noise_scale)
        print(
            f"GNSS noise: simulator's white 2.5 mm + correlated x{a.noise_scale} (AR(1) "
            f"{AR_SD} mm / {AR_TAU_H:.0f} h, flicker-like {len(FLICKER_TAUS_H)} x {FLICKER_SD} mm"
            f" over {FLICKER_TAUS_H[0]:.0f}-{FLICKER_TAUS_H[-1]:.0f} h, random walk "
            f"{RW_MM_PER_SQRT_YEAR} mm/sqrt(yr)), seed {a.noise_seed}"
        )

    def everywhere(r: SensorRules) -> dict[str, SensorRules]:
        return dict.fromkeys(KINDS, r)

    variants = {
        "old": everywhere(replace(NOWCAST_RULES, yellow_steps=0)),
        "new": everywhere(NOWCAST_RULES),
        # the rules before the no-baseline velocity bands (review 2026-12-06)
        "nobands": everywhere(
            replace(NOWCAST_RULES, no_baseline_blue_mm_per_day=0, no_baseline_yellow_mm_per_day=0)
        ),
        **{f"k{n}": everywhere(replace(NOWCAST_RULES, yellow_steps=n)) for n in (1, 2, 3, 4)},
        **{
            f"gnss{n}": {
                "gnss": replace(NOWCAST_RULES, robust_steps=n),
                "crack_meter": NOWCAST_RULES,
            }
            for n in (12, 24, 48)
        },
    }
    for name in a.rules.split(","):
        m = re.fullmatch(r"gnss(\d+)(?:b(\d+))?(?:z([\d.]+))?", name)
        if m and name not in variants:
            w, b = int(m.group(1)), int(m.group(2) or 0)
            z = float(m.group(3)) if m.group(3) else NOWCAST_RULES.noise_z
            variants[name] = {
                "gnss": replace(NOWCAST_RULES, robust_steps=w, robust_blocks=b, noise_z=z),
                "crack_meter": NOWCAST_RULES,
            }
    chosen = {name: variants[name] for name in a.rules.split(",")}
    t1 = time.perf_counter()
    sh_all = sensor_hours(f, chosen)
    print(f"kinematics and levels: {time.perf_counter() - t1:.0f} s")
    for name, by_kind in chosen.items():
        sh = sh_all.assign(
            **{
                c: sh_all[f"{c}_{name}"]
                for c in ("level", "angle", "velocity", "above_floor", "noise")
            }
        )
        res = score(sh, f, a.window)
        rules = by_kind["gnss"]
        print(
            f"\n=== rules {name}: yellow_steps={rules.yellow_steps}, GNSS robust_steps="
            f"{rules.robust_steps}, robust_blocks={rules.robust_blocks}, noise_z={rules.noise_z}"
            " (NOWCAST_RULES otherwise)"
        )
        for key in ("non-failing sites", "non-failing site-years", "failures at monitored sites"):
            print(f"{key}: {res[key]}")
        print(res["table"].to_string(index=False))
        print("\nyellow hours on non-failing sites, by sensor kind:")
        print(cause(sh, f).to_string())
        print(f"\nper failure (window {a.window:.0f} h):")
        print(res["failures"].to_string(index=False))
        per = res["failures"]
        for kinds in ("gnss", "crack_meter+gnss") if len(per) else ():
            sub = per[per["sensors"] == kinds]
            print(f"failures at {kinds} sites: {len(sub)}", end="")
            for lv in ("yellow", "orange", "red"):
                lead = sub[f"{lv} lead h"]
                print(
                    f"; {lv}: detected {int(lead.notna().sum())}, mean lead "
                    f"{float(lead.fillna(0).mean()) if len(sub) else 0:.1f} h (miss = 0)",
                    end="",
                )
            print()
        non = sh[~sh["site_id"].isin(set(f["events"]["site_id"].dropna()))]
        for kind, g in non.groupby("kind"):
            print(
                f"non-failing {kind} sensors: sensor-hours at orange+ {int((g['level'] >= 3).sum())},"
                f" at red {int((g['level'] >= 4).sum())}"
            )
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
