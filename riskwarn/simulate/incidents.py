"""Incidents: log-Gaussian hotspots + self-exciting near repeats (a Hawkes process).

Intensity of incidents in 250 m cell c on local day d:

    lambda(c, d) = mu * w_c * F(d) + alpha * sum_i g_t(d - t_i) * g_s(c - x_i)

* ``w_c`` (sums to 1): population^0.85 x exp(log-Gaussian field) x persistent hotspot
  multipliers (stations, markets, night-life streets).
* ``F(d) = sum_g pi_g f_g(d)``: category-group weekly cycle x seasonal cycle x
  holiday effects (Spring Festival, other statutory holidays) x trend.
* offspring: each incident has Poisson(alpha) children, delay ~ Exp(mean tau days),
  offset ~ N(0, sigma^2) per axis; children keep the parent's category with
  probability ``inherit`` (near-repeat burglary, repeat fights).
* disputes (issue 17.3): each failed mediation and each escalation of a dispute sets off
  Poisson(kappa) violent incidents near the dispute (:data:`DISPUTE_TRIGGER_KAPPA`), delay
  ~ Exp(mean :data:`DISPUTE_TAU_DAYS`), offset ~ N(0, sigma^2) per axis; they have
  near-repeat offspring like any incident.

The ground truth written beside the data is the expected count per active cell and
day given everything before that day's local midnight (what a perfect forecaster
standing at the origin would predict).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from riskwarn.contracts import INCIDENT_GROUPS
from riskwarn.simulate.calendar import Calendar, seasonal
from riskwarn.simulate.config import CELL_SIZE_M, SimConfig
from riskwarn.simulate.geography import COUNTIES, Geography

ALPHA = 0.3  # branching ratio (share of incidents that are near repeats)
TAU_DAYS = 5.0  # mean offspring delay
SIGMA_M = 150.0  # offspring distance scale per axis
INHERIT = 0.6
# disputes -> violent incidents: expected incidents set off per dispute event of each type
DISPUTE_TRIGGER_KAPPA = {
    "mediation_failed": 0.3,
    "escalated_petition": 0.3,
    "escalated_violence": 2.0,
    "escalated_litigation": 0.1,
}
DISPUTE_TAU_DAYS = 3.0
DISPUTE_CATEGORIES = {
    "assault": 0.45,
    "fight": 0.30,
    "provocation": 0.15,
    "intentional_injury": 0.10,
}

# source label, canonical category, group, share, base severity, hour profile
CATEGORIES = pd.DataFrame(
    [
        ("盗窃", "theft", "property", 0.22, 1, "day"),
        ("入室盗窃", "burglary", "property", 0.07, 2, "night"),
        ("盗窃电动车", "vehicle_theft", "property", 0.06, 1, "night"),
        ("抢夺", "snatching", "property", 0.01, 2, "day"),
        ("电信网络诈骗", "telecom_fraud", "fraud", 0.12, 2, "office"),
        ("诈骗", "fraud", "fraud", 0.05, 2, "office"),
        ("殴打他人", "assault", "violent", 0.08, 2, "evening"),
        ("打架斗殴", "fight", "violent", 0.05, 2, "evening"),
        ("抢劫", "robbery", "serious_violent", 0.004, 4, "evening"),
        ("故意伤害", "intentional_injury", "serious_violent", 0.006, 4, "evening"),
        ("故意杀人", "homicide", "serious_violent", 0.0003, 5, "evening"),
        ("强奸", "rape", "serious_violent", 0.0007, 5, "evening"),
        ("放火", "arson", "serious_violent", 0.0005, 4, "night"),
        ("绑架", "kidnapping", "serious_violent", 0.0001, 5, "day"),
        ("交通事故", "traffic_accident", "traffic", 0.16, 2, "rush"),
        ("扰乱公共秩序", "disturbance", "public_order", 0.05, 1, "evening"),
        ("噪音扰民", "noise", "public_order", 0.05, 1, "evening"),
        ("寻衅滋事", "provocation", "public_order", 0.02, 2, "evening"),
        ("吸毒", "drugs", "public_order", 0.01, 2, "night"),
        ("其他", "other", "other", 0.0339, 1, "day"),
    ],
    columns=["label", "category", "group", "share", "severity", "profile"],
)
GROUP_LABELS = {
    "property": "侵财类",
    "fraud": "诈骗类",
    "violent": "侵犯人身类",
    "serious_violent": "严重暴力类",
    "public_order": "治安秩序类",
    "traffic": "交通类",
    "other": "其他类",
}
# weekly factors Mon..Sun, seasonal (amplitude, peak day of year), Spring Festival, other holidays, trend/yr
GROUP_TIME = {
    "property": ((1.05, 1.0, 1.0, 1.0, 1.05, 0.95, 0.95), (0.10, 350), 0.80, 1.05, -0.02),
    "fraud": ((1.10, 1.10, 1.05, 1.05, 1.0, 0.85, 0.85), (0.05, 330), 0.70, 0.90, 0.10),
    "violent": ((0.90, 0.85, 0.85, 0.90, 1.10, 1.25, 1.15), (0.20, 200), 1.30, 1.15, -0.02),
    "serious_violent": ((0.90, 0.85, 0.85, 0.90, 1.10, 1.25, 1.15), (0.20, 200), 1.30, 1.10, -0.03),
    "public_order": ((0.90, 0.85, 0.85, 0.90, 1.10, 1.25, 1.15), (0.15, 200), 1.50, 1.15, 0.0),
    "traffic": ((1.0, 1.0, 1.0, 1.0, 1.10, 1.0, 0.90), (0.10, 20), 1.30, 1.20, -0.01),
    "other": ((1.0,) * 7, (0.0, 0), 1.0, 1.0, 0.0),
}
_H = np.arange(24)
HOUR_PROFILES = {
    "day": 0.3 + np.exp(-((_H - 14) ** 2) / 30),
    "night": 0.2 + np.exp(-(((_H + 3) % 24 - 3) ** 2) / 8),
    "office": 0.1 + np.exp(-((_H - 13) ** 2) / 20),
    "evening": 0.15 + np.exp(-(((_H - 22 + 12) % 24 - 12) ** 2) / 10),
    "rush": 0.2 + np.exp(-((_H - 8) ** 2) / 3) + np.exp(-((_H - 18) ** 2) / 4),
}
LOCATION_TYPES = pd.DataFrame(
    [
        ("街面", "street"),
        ("住宅小区", "residence"),
        ("商业场所", "commercial"),
        ("道路", "road"),
        ("农村", "rural"),
        ("网络", "online"),
        ("学校医院", "public_facility"),
        ("其他", "other"),
    ],
    columns=["label", "location_type"],
)
# time precision: label, canonical, probability
PRECISION = (
    ("精确到分", "minute", 0.80),
    ("精确到时", "hour", 0.10),
    ("仅日期", "day", 0.04),
    ("不详", "unknown", 0.06),
)
# reporting delay: median hours by group
REPORT_DELAY_H = {
    "property": 3.0,
    "fraud": 12.0,
    "violent": 0.3,
    "serious_violent": 0.3,
    "public_order": 0.2,
    "traffic": 0.2,
    "other": 2.0,
}


@dataclass(frozen=True)
class IncidentTruth:
    """Ground truth of the incident process on the active cells."""

    cell_x: np.ndarray  # (n_active,) int
    cell_y: np.ndarray
    background_weight: np.ndarray  # (n_active,) w_c
    mu_per_day: float
    day_factor: np.ndarray  # (days,) F(d)
    triggered: np.ndarray  # (days, n_active) float32, expected offspring count
    weights_all: np.ndarray  # (ny * nx,) w over the whole raster (0 outside the city)
    triggered_disputes: np.ndarray | None = None  # (days, n_active): part set off by disputes


def group_day_factors(cal: Calendar) -> np.ndarray:
    """(days, n_groups) multiplier f_g(d) of each group's background rate."""
    cols = []
    for g in INCIDENT_GROUPS:
        weekly, (amp, peak), sf, hol, trend = GROUP_TIME[g]
        f = (
            np.asarray(weekly)[cal.dow]
            * seasonal(cal.doy, amp, peak)
            * (1 + trend) ** cal.years_from_start
        )
        f = f * np.where(cal.spring_festival, sf, np.where(cal.holiday, hol, 1.0))
        cols.append(f)
    return np.column_stack(cols)


def background_weights(geo: Geography, rng: np.random.Generator, n_hotspots: int) -> np.ndarray:
    """w_c over the raster (sums to 1 inside the city): population, LGCP field, hotspots."""
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.standard_normal(geo.shape), 3.0)
    field = field / field.std()
    w = np.power(geo.population, 1.1) * np.exp(1.1 * field)
    flat = w.ravel()
    inside = np.flatnonzero(geo.mask.ravel())
    p = flat[inside] ** 1.5
    hot = rng.choice(inside, size=n_hotspots, replace=False, p=p / p.sum())
    flat[hot] *= rng.lognormal(1.8, 0.5, n_hotspots)
    flat[~geo.mask.ravel()] = 0.0
    return flat / flat.sum()


def _draw_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each i draw a column index from the probability row ``probs[rows[i]]``."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(rows))
    return (cum[rows] < u[:, None]).sum(axis=1).clip(0, probs.shape[1] - 1)


def _category_probs(day_factors: np.ndarray) -> np.ndarray:
    """(days, n_categories) P(category | day) for background events."""
    gidx = CATEGORIES["group"].map({g: i for i, g in enumerate(INCIDENT_GROUPS)}).to_numpy()
    return CATEGORIES["share"].to_numpy()[None, :] * day_factors[:, gidx]


def dispute_triggered_immigrants(
    geo: Geography, days: int, triggers: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Violent incidents set off by dispute events: ``triggers`` has ``t_days, x, y, kappa``
    (one row per failed mediation or escalation). Returns (t, x, y, category index)."""
    k = rng.poisson(triggers["kappa"].to_numpy(float))
    idx = np.repeat(np.arange(len(triggers)), k)
    t = triggers["t_days"].to_numpy(float)[idx] + rng.exponential(DISPUTE_TAU_DAYS, len(idx))
    x = triggers["x"].to_numpy(float)[idx] + rng.normal(0, SIGMA_M, len(idx))
    y = triggers["y"].to_numpy(float)[idx] + rng.normal(0, SIGMA_M, len(idx))
    _, inside = geo.flat_cell(x, y)
    keep = inside & (t < days)
    names = list(DISPUTE_CATEGORIES)
    codes = CATEGORIES.reset_index().set_index("category").loc[names, "index"].to_numpy()
    probs = np.array([DISPUTE_CATEGORIES[n] for n in names])
    cat = codes[rng.choice(len(names), size=int(keep.sum()), p=probs / probs.sum())]
    return t[keep], x[keep], y[keep], cat


def simulate_incidents(
    geo: Geography,
    cal: Calendar,
    cfg: SimConfig,
    rng: np.random.Generator,
    triggers: pd.DataFrame | None = None,
    trigger_rng: np.random.Generator | None = None,
) -> tuple[pd.DataFrame, IncidentTruth]:
    """Simulate the incidents; returns the events (internal form) and the ground truth.

    ``triggers`` (``t_days, x, y, kappa``): dispute events that set off violent incidents
    (:func:`dispute_triggered_immigrants`, drawn from ``trigger_rng``)."""
    days = len(cal.dates)
    gf = group_day_factors(cal)
    shares = CATEGORIES.groupby("group")["share"].sum().reindex(INCIDENT_GROUPS).to_numpy()
    F = gf @ shares
    mu = cfg.n_incidents * (1 - ALPHA) / F.sum()
    w = background_weights(geo, rng, n_hotspots=max(20, cfg.n_incidents // 15_000))
    cat_probs = _category_probs(gf)

    # background (immigrants)
    n_day = rng.poisson(mu * F)
    day = np.repeat(np.arange(days), n_day)
    cum_w = np.cumsum(w)
    flat = np.searchsorted(cum_w, rng.random(len(day)) * cum_w[-1], side="right").clip(
        0, len(w) - 1
    )
    nx = geo.shape[1]
    x = (geo.ix0 + flat % nx + rng.random(len(day))) * CELL_SIZE_M
    y = (geo.iy0 + flat // nx + rng.random(len(day))) * CELL_SIZE_M
    cat = _draw_rows(rng, cat_probs, day)
    prof = np.stack([HOUR_PROFILES[p] for p in CATEGORIES["profile"]])
    hour = _draw_rows(rng, prof, cat)
    t = day + (hour + rng.random(len(day))) / 24.0
    gen = np.zeros(len(t), dtype=np.int8)
    dsp = np.zeros(len(t), dtype=bool)
    if triggers is not None and len(triggers):
        dt_, dx_, dy_, dc_ = dispute_triggered_immigrants(
            geo, days, triggers, trigger_rng or np.random.default_rng(0)
        )
        t, x, y = np.concatenate([t, dt_]), np.concatenate([x, dx_]), np.concatenate([y, dy_])
        cat = np.concatenate([cat, dc_])
        gen = np.zeros(len(t), dtype=np.int8)
        dsp = np.concatenate([dsp, np.ones(len(dt_), dtype=bool)])
    parts = [(t, x, y, cat, gen, dsp)]

    # offspring, one generation at a time
    pt, px, py, pc, pd_ = t, x, y, cat, dsp
    g = 0
    while len(pt) and g < 50:
        g += 1
        k = rng.poisson(ALPHA, len(pt))
        idx = np.repeat(np.arange(len(pt)), k)
        ct = pt[idx] + rng.exponential(TAU_DAYS, len(idx))
        cx = px[idx] + rng.normal(0, SIGMA_M, len(idx))
        cy = py[idx] + rng.normal(0, SIGMA_M, len(idx))
        keep = ct < days
        _, inside = geo.flat_cell(cx, cy)
        keep &= inside
        idx, ct, cx, cy = idx[keep], ct[keep], cx[keep], cy[keep]
        cc = _draw_rows(rng, cat_probs, np.floor(ct).astype(np.int64))
        cc = np.where(rng.random(len(idx)) < INHERIT, pc[idx], cc)
        cd = pd_[idx]
        parts.append((ct, cx, cy, cc, np.full(len(ct), g, dtype=np.int8), cd))
        pt, px, py, pc, pd_ = ct, cx, cy, cc, cd

    t = np.concatenate([p[0] for p in parts])
    x = np.concatenate([p[1] for p in parts])
    y = np.concatenate([p[2] for p in parts])
    cat = np.concatenate([p[3] for p in parts])
    gen = np.concatenate([p[4] for p in parts])
    dsp = np.concatenate([p[5] for p in parts])
    order = np.argsort(t, kind="stable")
    t, x, y, cat, gen, dsp = t[order], x[order], y[order], cat[order], gen[order], dsp[order]
    events = _observe(geo, t, x, y, cat, gen, rng)
    events["from_dispute"] = dsp
    truth = _truth(geo, w, mu, F, t, x, y, days, triggers)
    return events, truth


def _observe(
    geo: Geography,
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    cat: np.ndarray,
    gen: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """What the platform records: precision, reporting delay, severity, place, unit."""
    n = len(t)
    flat, _ = geo.flat_cell(x, y)
    groups = CATEGORIES["group"].to_numpy()[cat]
    prec = rng.choice(len(PRECISION), size=n, p=[p[2] for p in PRECISION])
    burglary = CATEGORIES["category"].to_numpy()[cat] == "burglary"
    prec = np.where(burglary & (rng.random(n) < 0.15), 2, prec)  # burglaries found later: date only
    day = np.floor(t)
    minutes = np.floor(t * 1440.0)
    rec_min = np.where(prec == 0, minutes, np.where(prec == 1, np.floor(t * 24) * 60, day * 1440))
    delay_h = rng.lognormal(np.log(pd.Series(groups).map(REPORT_DELAY_H).to_numpy()), 1.0)
    delay_h = delay_h + np.where(prec >= 2, 12.0, 0.0)
    rep_min = np.floor(minutes + 1 + delay_h * 60)
    sev = CATEGORIES["severity"].to_numpy()[cat] + rng.choice([-1, 0, 0, 0, 1], size=n)
    sev = np.clip(sev, 1, 5)
    urban = geo.urban.ravel()[flat]
    loc = _location_type(rng, CATEGORIES["category"].to_numpy()[cat], urban)
    return pd.DataFrame(
        {
            "t_days": t,
            "occurred_min": rec_min.astype(np.int64),
            "reported_min": rep_min.astype(np.int64),
            "precision": prec.astype(np.int8),
            "cat": cat.astype(np.int16),
            "severity": sev.astype(np.int8),
            "x": x,
            "y": y,
            "flat": flat,
            "location": loc.astype(np.int8),
            "generation": gen,
        }
    )


def _location_type(rng: np.random.Generator, category: np.ndarray, urban: np.ndarray) -> np.ndarray:
    """Location-type index: category-specific, urban vs rural mix."""
    # street, residence, commercial, road, rural, online, public_facility, other
    p_urban = np.array([0.35, 0.30, 0.22, 0.05, 0.0, 0.0, 0.05, 0.03])
    p_rural = np.array([0.20, 0.20, 0.08, 0.10, 0.35, 0.0, 0.04, 0.03])
    u = rng.random(len(category))
    mix = np.where(u[:, None] < urban[:, None], p_urban[None, :], p_rural[None, :])
    cum = np.cumsum(mix, axis=1)
    loc = (cum < rng.random(len(category))[:, None] * cum[:, -1:]).sum(axis=1)
    loc = np.where(
        np.isin(category, ["telecom_fraud", "fraud"]),
        np.where(rng.random(len(category)) < 0.7, 5, 1),
        loc,
    )
    loc = np.where(category == "burglary", np.where(urban > 0.55, 1, 4), loc)
    loc = np.where(category == "traffic_accident", 3, loc)
    return loc


def _truth(
    geo: Geography,
    w: np.ndarray,
    mu: float,
    F: np.ndarray,
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    days: int,
    triggers: pd.DataFrame | None = None,
) -> IncidentTruth:
    """Expected counts per active cell and day (background factorised, offspring dense;
    with ``triggers`` the incidents set off by dispute events are added, and kept apart
    in ``triggered_disputes``)."""
    nx = geo.shape[1]
    flat, _ = geo.flat_cell(x, y)
    active = np.unique(flat)
    trig = _trigger_field(geo, active, t, x, y, np.full(len(t), ALPHA), TAU_DAYS, days)
    by_disputes: np.ndarray | None = None
    if triggers is not None and len(triggers):
        tt = triggers.sort_values("t_days", kind="stable")
        by_disputes = _trigger_field(
            geo,
            active,
            tt["t_days"].to_numpy(float),
            tt["x"].to_numpy(float),
            tt["y"].to_numpy(float),
            tt["kappa"].to_numpy(float),
            DISPUTE_TAU_DAYS,
            days,
        )
        trig = trig + by_disputes
    return IncidentTruth(
        cell_x=(geo.ix0 + active % nx).astype(np.int64),
        cell_y=(geo.iy0 + active // nx).astype(np.int64),
        background_weight=w[active],
        mu_per_day=float(mu),
        day_factor=F,
        triggered=trig,
        weights_all=w,
        triggered_disputes=by_disputes,
    )


def _trigger_field(
    geo: Geography,
    active: np.ndarray,
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    amp: np.ndarray,
    tau: float,
    days: int,
) -> np.ndarray:
    """(days, n_active): expected events set off in each active cell and day by sources at
    (t, x, y) (sorted by t) with ``amp`` expected events each, delay ~ Exp(tau), offset
    N(0, SIGMA_M^2) per axis, from sources before that day's local midnight."""
    ny, nx = geo.shape
    flat, _ = geo.flat_cell(x, y)
    fx = x / CELL_SIZE_M - np.floor(x / CELL_SIZE_M)
    fy = y / CELL_SIZE_M - np.floor(y / CELL_SIZE_M)
    offs = np.arange(-2, 3)
    s = CELL_SIZE_M / SIGMA_M
    wx = ndtr((offs[None, :] + 1 - fx[:, None]) * s) - ndtr((offs[None, :] - fx[:, None]) * s)
    wy = ndtr((offs[None, :] + 1 - fy[:, None]) * s) - ndtr((offs[None, :] - fy[:, None]) * s)
    day = np.floor(t).astype(np.int64)
    decay0 = np.exp(-(day + 1 - t) / tau) * amp
    wts = (wy[:, :, None] * wx[:, None, :]).reshape(len(t), 25) * decay0[:, None]
    tgt = flat[:, None] + (offs[:, None] * nx + offs[None, :]).ravel()[None, :]
    tgt = np.clip(tgt, 0, ny * nx - 1)
    starts = np.searchsorted(day, np.arange(days + 1))
    k = np.exp(-1.0 / tau)
    state = np.zeros(ny * nx)
    trig = np.zeros((days, len(active)), dtype=np.float32)
    for d in range(days):  # loop over days (time steps), each vectorised over cells
        trig[d] = (1 - k) * state[active]
        state *= k
        sl = slice(starts[d], starts[d + 1])
        state += np.bincount(tgt[sl].ravel(), weights=wts[sl].ravel(), minlength=ny * nx)
    return trig


def police_unit_names(geo: Geography) -> np.ndarray:
    """Name of the police station per township (a dropped, non-personal source column)."""
    county_of_town = np.array([c[:6] for c in geo.township_codes])
    cname = {c[0]: c[1] for c in COUNTIES}
    names = geo.admin.set_index("code")["name"]
    return np.array(
        [
            f"{cname[c]}公安局{names[t][:2]}派出所"
            for c, t in zip(county_of_town, geo.township_codes, strict=True)
        ]
    )
