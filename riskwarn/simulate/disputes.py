"""Disputes: registration, parties, mediation, escalation (a known logistic hazard), closure.

Each open, not yet escalated case c on local day d escalates that day with probability

    h(c, d) = sigmoid(b0 + b_cat + b_age*log1p(age_days) + b_fail*failed_mediations
                      + b_rep*log1p(prior_disputes_of_parties) + b_pesc*party_escalated_before
                      + b_near*log1p(escalations_in_township_last_30d) + b_amount*log1p(amount/1e4))

evaluated on the state at the start of the day (everything in it is observable from
the extract). The coefficients are :data:`HAZARD_COEFS`; the ground truth table
holds ``h`` and the inputs for every case-day at risk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskwarn.simulate.calendar import Calendar, seasonal
from riskwarn.simulate.config import CELL_SIZE_M, SimConfig
from riskwarn.simulate.geography import COUNTIES, Geography

# canonical category, source label, share, seasonal (amp, peak), urban exponent,
# hazard logit offset, mediation-success logit offset, P(petition, violence, litigation), monetary
CATEGORIES = pd.DataFrame(
    [
        ("neighbour", "邻里纠纷", 0.25, (0.2, 200), 0.0, -0.3, 0.4, (0.3, 0.3, 0.4), False),
        (
            "family_marriage",
            "婚姻家庭纠纷",
            0.18,
            (0.3, 40),
            0.0,
            0.2,
            0.2,
            (0.25, 0.35, 0.4),
            False,
        ),
        (
            "land_homestead",
            "土地宅基地纠纷",
            0.12,
            (0.4, 90),
            -1.5,
            0.5,
            0.0,
            (0.5, 0.2, 0.3),
            False,
        ),
        ("labour_wage", "劳资纠纷", 0.10, (0.6, 15), 0.5, 0.8, -0.3, (0.6, 0.1, 0.3), True),
        (
            "property_management",
            "物业纠纷",
            0.08,
            (0.1, 0),
            2.0,
            -0.2,
            0.3,
            (0.5, 0.05, 0.45),
            True,
        ),
        ("debt", "债务纠纷", 0.12, (0.3, 20), 0.0, 0.3, 0.0, (0.2, 0.1, 0.7), True),
        ("medical", "医疗纠纷", 0.03, (0.1, 0), 1.0, 0.6, -0.2, (0.5, 0.1, 0.4), True),
        (
            "demolition_relocation",
            "征地拆迁纠纷",
            0.04,
            (0.2, 120),
            0.5,
            1.1,
            -1.0,
            (0.8, 0.1, 0.1),
            True,
        ),
        ("other", "其他纠纷", 0.08, (0.0, 0), 0.0, -0.4, 0.3, (0.4, 0.2, 0.4), False),
    ],
    columns=[
        "category",
        "label",
        "share",
        "season",
        "urban_exp",
        "hazard",
        "mediation",
        "esc_mix",
        "monetary",
    ],
)
HAZARD_COEFS = {
    "intercept": -6.9,
    "log1p_age_days": 0.25,
    "failed_mediations": 0.55,
    "log1p_prior_disputes": 0.45,
    "party_escalated_before": 0.9,
    "log1p_escalations_nearby_30d": 0.35,
    "log1p_amount_10k": 0.15,
}
EVENT_TYPES = pd.DataFrame(
    [
        ("opened", "受理登记"),
        ("mediation_attempt", "组织调解"),
        ("mediation_failed", "调解未成功"),
        ("mediation_succeeded", "调解成功"),
        ("escalated_petition", "引发信访"),
        ("escalated_violence", "民转刑"),
        ("escalated_litigation", "转入诉讼"),
        ("closed", "结案"),
    ],
    columns=["event_type", "label"],
)
EV = {e: i for i, e in enumerate(EVENT_TYPES["event_type"])}
MAX_AGE_DAYS = 180
NEARBY_WINDOW_DAYS = 30


@dataclass(frozen=True)
class DisputeSim:
    """Simulated disputes (one row per case), events, parties and the ground truth."""

    cases: pd.DataFrame
    events: pd.DataFrame  # case, minute (since start), type index
    truth: pd.DataFrame  # case x day at risk: inputs of the hazard and h
    persons: pd.DataFrame  # person index -> region code (personal fields made at write time)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def daily_rates(cal: Calendar, n_total: int) -> np.ndarray:
    """(days, n_categories) expected registrations per day and category."""
    wk = np.where(cal.dow >= 5, 0.45, 1.0)
    off = np.where(cal.spring_festival, 0.3, np.where(cal.holiday, 0.5, 1.0))
    cols = [
        share * seasonal(cal.doy, amp, peak) * wk * off
        for share, (amp, peak) in zip(CATEGORIES["share"], CATEGORIES["season"], strict=True)
    ]
    r = np.column_stack(cols)
    return r * n_total / r.sum()


def registration_truth(
    geo: Geography, cal: Calendar, n_total: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """True registration intensity: per-cell weights and per-day rates by category.

    Expected registrations of category k in cell c on day d = ``rate_k(d) * weight_k(c)``.
    """
    inside = np.flatnonzero(geo.mask.ravel())
    pop = geo.population.ravel()[inside]
    urb = geo.urban.ravel()[inside] + 0.2
    nx = geo.shape[1]
    cells = pd.DataFrame({"cell_x": geo.ix0 + inside % nx, "cell_y": geo.iy0 + inside // nx})
    rates = daily_rates(cal, n_total)
    days = pd.DataFrame({"date": cal.dates.date})
    for k, (cat, e) in enumerate(zip(CATEGORIES["category"], CATEGORIES["urban_exp"], strict=True)):
        w = pop * urb**e
        cells[f"weight_{cat}"] = w / w.sum()
        days[f"rate_{cat}"] = rates[:, k]
    return cells, days


def _open_cases(
    geo: Geography, cal: Calendar, cfg: SimConfig, rng: np.random.Generator
) -> pd.DataFrame:
    rates = daily_rates(cal, cfg.n_disputes)
    counts = rng.poisson(rates)
    day = np.repeat(np.repeat(np.arange(len(cal.dates)), rates.shape[1]), counts.ravel())
    cat = np.repeat(np.tile(np.arange(rates.shape[1]), len(cal.dates)), counts.ravel())
    inside = np.flatnonzero(geo.mask.ravel())
    pop = geo.population.ravel()[inside]
    urb = geo.urban.ravel()[inside] + 0.2
    flat = np.empty(len(day), dtype=np.int64)
    for k, e in enumerate(CATEGORIES["urban_exp"]):  # nine categories
        sel = np.flatnonzero(cat == k)
        cw = np.cumsum(pop * urb**e)
        flat[sel] = inside[
            np.searchsorted(cw, rng.random(len(sel)) * cw[-1], side="right").clip(0, len(cw) - 1)
        ]
    nx = geo.shape[1]
    x = (geo.ix0 + flat % nx + rng.random(len(day))) * CELL_SIZE_M
    y = (geo.iy0 + flat // nx + rng.random(len(day))) * CELL_SIZE_M
    minute = day * 1440 + rng.integers(8 * 60 + 30, 17 * 60 + 30, len(day))
    order = np.lexsort((x, minute))
    day, cat, flat, x, y, minute = (
        day[order],
        cat[order],
        flat[order],
        x[order],
        y[order],
        minute[order],
    )
    n = len(day)
    labour = CATEGORIES["category"].to_numpy()[cat] == "labour_wage"
    n_parties = (
        2
        + rng.poisson(0.3, n)
        + np.where(labour & (rng.random(n) < 0.15), rng.integers(3, 40, n), 0)
    )
    monetary = CATEGORIES["monetary"].to_numpy()[cat]
    amount = np.where(monetary, np.round(rng.lognormal(np.log(30_000), 1.2, n), -2), np.nan)
    amount = np.where(labour, amount * np.sqrt(n_parties - 1), amount)
    amount = np.round(amount, -2)
    return pd.DataFrame(
        {
            "open_day": day,
            "open_min": minute,
            "cat": cat,
            "flat": flat,
            "x": x,
            "y": y,
            "township": geo.township.ravel()[flat],
            "community": geo.community.ravel()[flat],
            "grid": geo.mgmt_grid.ravel()[flat],
            "n_parties": n_parties,
            "amount_cny": amount,
        }
    )


def _assign_parties(
    cases: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, int]:
    """Two named parties per case from a person pool with frequent repeat disputants."""
    n = len(cases)
    pool = max(10, int(1.5 * n))
    frequent = max(2, pool // 50)

    def draw() -> np.ndarray:
        rep = rng.random(n) < 0.15
        return np.where(rep, rng.integers(0, frequent, n), rng.integers(0, pool, n))

    a = draw()
    b = draw()
    b = np.where(b == a, (b + 1) % pool, b)
    return a, b, pool


def _prior_disputes(cases: pd.DataFrame) -> np.ndarray:
    """Earlier disputes of either party (cases are in registration order)."""
    long = pd.DataFrame(
        {
            "case": np.concatenate([np.arange(len(cases))] * 2),
            "person": np.concatenate([cases["party_a"], cases["party_b"]]),
        }
    )
    long = long.sort_values(["case", "person"], kind="stable")
    long["prior"] = long.groupby("person").cumcount()
    return long.groupby("case")["prior"].sum().to_numpy()


def simulate_disputes(
    geo: Geography, cal: Calendar, cfg: SimConfig, rng: np.random.Generator
) -> DisputeSim:
    """Simulate registrations and each case's life day by day (vectorised over cases)."""
    cases = _open_cases(geo, cal, cfg, rng)
    a, b, pool = _assign_parties(cases, rng)
    cases["party_a"], cases["party_b"] = a, b
    cases["prior_disputes"] = _prior_disputes(cases)
    n, days = len(cases), len(cal.dates)
    cat = cases["cat"].to_numpy()
    open_day = cases["open_day"].to_numpy()
    town = cases["township"].to_numpy()
    n_town = len(geo.township_codes)
    base = (
        HAZARD_COEFS["intercept"]
        + CATEGORIES["hazard"].to_numpy()[cat]
        + HAZARD_COEFS["log1p_prior_disputes"] * np.log1p(cases["prior_disputes"].to_numpy())
        + HAZARD_COEFS["log1p_amount_10k"]
        * np.log1p(np.nan_to_num(cases["amount_cny"].to_numpy()) / 1e4)
    )
    med_base = (
        0.6
        + CATEGORIES["mediation"].to_numpy()[cat]
        - 0.3 * np.log1p(cases["prior_disputes"].to_numpy())
    )
    esc_mix = np.cumsum(np.array(CATEGORIES["esc_mix"].tolist()), axis=1)[cat]

    status = np.zeros(n, dtype=np.int8)  # 0 not yet, 1 open, 2 closed
    escalated = np.zeros(n, dtype=bool)
    n_failed = np.zeros(n, dtype=np.int16)
    next_med = np.full(n, -1, dtype=np.int64)
    close_day = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    person_esc_day = np.full(pool, np.iinfo(np.int64).max, dtype=np.int64)
    town_esc = np.zeros((days + 1, n_town), dtype=np.int64)  # escalations per day and township
    starts = np.searchsorted(open_day, np.arange(days + 1))
    ev_case, ev_min, ev_type = (
        [np.arange(n)],
        [cases["open_min"].to_numpy()],
        [np.full(n, EV["opened"])],
    )
    tr: list[tuple[np.ndarray, ...]] = []

    for d in range(days):  # loop over days (time steps), each vectorised over cases
        new = np.arange(starts[d], starts[d + 1])
        status[new] = 1
        next_med[new] = d + rng.geometric(1 / 3, len(new))
        risk = np.flatnonzero((status == 1) & ~escalated)
        lo = max(0, d - NEARBY_WINDOW_DAYS)
        nearby = (town_esc[lo:d].sum(axis=0) if d > 0 else np.zeros(n_town, dtype=np.int64))[
            town[risk]
        ]
        age = d - open_day[risk]
        pesc = (person_esc_day[a[risk]] < d) | (person_esc_day[b[risk]] < d)
        eta = (
            base[risk]
            + HAZARD_COEFS["log1p_age_days"] * np.log1p(age)
            + HAZARD_COEFS["failed_mediations"] * n_failed[risk]
            + HAZARD_COEFS["party_escalated_before"] * pesc
            + HAZARD_COEFS["log1p_escalations_nearby_30d"] * np.log1p(nearby)
        )
        h = _sigmoid(eta)
        tr.append((risk, np.full(len(risk), d), age, n_failed[risk].copy(), pesc, nearby, h))

        esc = rng.random(len(risk)) < h
        e_idx = risk[esc]
        if len(e_idx):
            kind = (esc_mix[e_idx] < rng.random(len(e_idx))[:, None]).sum(axis=1).clip(0, 2)
            escalated[e_idx] = True
            ev_case.append(e_idx)
            ev_min.append(d * 1440 + rng.integers(0, 1440, len(e_idx)))
            ev_type.append(EV["escalated_petition"] + kind)
            lag = np.choose(
                kind,
                [
                    rng.integers(5, 40, len(e_idx)),
                    rng.integers(1, 10, len(e_idx)),
                    rng.integers(30, 120, len(e_idx)),
                ],
            )
            close_day[e_idx] = d + lag
            person_esc_day[a[e_idx]] = np.minimum(person_esc_day[a[e_idx]], d)
            person_esc_day[b[e_idx]] = np.minimum(person_esc_day[b[e_idx]], d)
            town_esc[d] = np.bincount(town[e_idx], minlength=n_town)

        calm = risk[~esc]
        med = calm[next_med[calm] == d]
        if len(med):
            t0 = d * 1440 + rng.integers(9 * 60, 16 * 60, len(med))
            ok = rng.random(len(med)) < _sigmoid(med_base[med] - 0.4 * n_failed[med])
            ev_case += [med, med]
            ev_min += [t0, t0 + rng.integers(30, 180, len(med))]
            ev_type += [
                np.full(len(med), EV["mediation_attempt"]),
                np.where(ok, EV["mediation_succeeded"], EV["mediation_failed"]),
            ]
            close_day[med[ok]] = d
            n_failed[med[~ok]] += 1
            next_med[med[~ok]] = d + 3 + rng.geometric(1 / 7, int((~ok).sum()))
        quit_ = calm[(rng.random(len(calm)) < 0.004) | (d - open_day[calm] >= MAX_AGE_DAYS)]
        close_day[quit_] = np.minimum(close_day[quit_], d)
        closing = np.flatnonzero((status == 1) & (close_day <= d))
        if len(closing):
            status[closing] = 2
            ev_case.append(closing)
            ev_min.append(d * 1440 + rng.integers(17 * 60, 18 * 60, len(closing)))
            ev_type.append(np.full(len(closing), EV["closed"]))

    events = pd.DataFrame(
        {
            "case": np.concatenate(ev_case),
            "minute": np.concatenate(ev_min),
            "type": np.concatenate(ev_type),
        }
    )
    not_open = events["type"].to_numpy() != EV["opened"]
    floor = cases["open_min"].to_numpy()[events["case"].to_numpy()] + 1
    events["minute"] = np.where(
        not_open, np.maximum(events["minute"].to_numpy(), floor), events["minute"].to_numpy()
    )
    events = events[events["minute"] < days * 1440]
    events = events.sort_values(["case", "minute", "type"], kind="stable").reset_index(drop=True)
    truth = _truth_frame(tr)
    cases["escalated"] = escalated
    cases["failed_mediations"] = n_failed
    region = np.array([c[0] for c in COUNTIES])[rng.integers(0, len(COUNTIES), pool)]
    persons = pd.DataFrame({"region": region})
    return DisputeSim(cases=cases, events=events, truth=truth, persons=persons)


def _truth_frame(rows: list[tuple[np.ndarray, ...]]) -> pd.DataFrame:
    """Case-day truth with the 30-day path probability (oracle over the realised path)."""
    cols = [
        "case",
        "day",
        "age_days",
        "failed_mediations",
        "party_escalated_before",
        "escalations_nearby_30d",
        "hazard",
    ]
    parts = [np.concatenate([r[i] for r in rows]) for i in range(len(cols))]
    t = pd.DataFrame(dict(zip(cols, parts, strict=True)))
    t = t.sort_values(["case", "day"], kind="stable").reset_index(drop=True)
    logs = np.log1p(-t["hazard"].to_numpy())
    cs = np.concatenate([[0.0], np.cumsum(logs)])
    case = t["case"].to_numpy()
    last = pd.Series(np.arange(len(t))).groupby(case).transform("max").to_numpy()
    end = np.minimum(np.arange(len(t)) + 30, last + 1)
    t["p_escalate_30d_path"] = 1.0 - np.exp(cs[end] - cs[np.arange(len(t))])
    return t


def trigger_sources(sim: DisputeSim, kappa: dict[str, float]) -> pd.DataFrame:
    """Dispute events that set off violent incidents (``t_days, x, y, kappa``, by time):
    every event whose type is in ``kappa``, at its case's place."""
    ev = sim.events
    codes = {EV[name]: k for name, k in kappa.items()}
    sel = ev[ev["type"].isin(list(codes))]
    case = sel["case"].to_numpy()
    out = pd.DataFrame(
        {
            "t_days": sel["minute"].to_numpy(float) / 1440.0,
            "x": sim.cases["x"].to_numpy()[case],
            "y": sim.cases["y"].to_numpy()[case],
            "kappa": sel["type"].map(codes).to_numpy(float),
        }
    )
    return out.sort_values("t_days", kind="stable", ignore_index=True)
