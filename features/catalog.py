"""The feature catalog: what each feature means, in words a panel can read.

``PATTERNS`` maps a feature name (or a pattern with ``{group}``, ``{n}`` or ``{h}``
placeholders) to a :class:`FeatureInfo`; ``FEATURES`` adds the concrete names for the
usual parameter values (``count_7d``, ``count_violent_28d``, ...). ``describe(name, value)`` fills the template
for one prediction, e.g. ``"4 events in this cell in the last 7 days"``; the model's
explanation sentences and ``docs/features.md`` are both built from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product

from riskwarn.contracts import DISPUTE_CATEGORIES, HAZARD_TYPES, INCIDENT_GROUPS


@dataclass(frozen=True)
class FeatureInfo:
    """One feature (or family of features)."""

    template: (
        str  # plain words; ``{value}`` is the feature's value, other placeholders from the name
    )
    unit: str
    lookback: str  # what data it may look at (all strictly before the origin unless said)
    domain: str  # cells | disputes | geohazard | citywide


_B = "records known before the origin"
PATTERNS: dict[str, FeatureInfo] = {
    # cell x origin (incidents, dispute hotspots)
    "count_{n}d": FeatureInfo(
        "{value:g} events in this cell in the last {n} days",
        "events",
        f"{_B}, last {{n}} days",
        "cells",
    ),
    "count_{group}_{n}d": FeatureInfo(
        "{value:g} {group} events in this cell in the last {n} days",
        "events",
        f"{_B}, last {{n}} days",
        "cells",
    ),
    "decayed_count_hl{h}d": FeatureInfo(
        "{value:.1f} recent events in this cell, weighted by age (half-life {h} days)",
        "events",
        f"all {_B}",
        "cells",
    ),
    "near_repeat_{n}d": FeatureInfo(
        "{value:g} events in this cell or the 8 around it in the last {n} days",
        "events",
        f"{_B}, last {{n}} days",
        "cells",
    ),
    "ring1_count_{n}d": FeatureInfo(
        "{value:g} events in the 8 neighbouring cells in the last {n} days",
        "events",
        f"{_B}, last {{n}} days",
        "cells",
    ),
    "ring2_count_{n}d": FeatureInfo(
        "{value:g} events in the second ring of 16 cells around in the last {n} days",
        "events",
        f"{_B}, last {{n}} days",
        "cells",
    ),
    "longrun_rate_per_day": FeatureInfo(
        "{value:.3f} events per day here on average since records began",
        "events/day",
        f"all {_B}",
        "cells",
    ),
    "rate_ratio_7d_vs_longrun": FeatureInfo(
        "the last 7 days ran at {value:.1f}x this cell's usual rate", "ratio", f"all {_B}", "cells"
    ),
    "trend_7d_vs_91d": FeatureInfo(
        "the last 7 days ran at {value:.1f}x the rate of the last 91 days",
        "ratio",
        f"{_B}, last 91 days",
        "cells",
    ),
    "trend_28d_vs_365d": FeatureInfo(
        "the last 28 days ran at {value:.1f}x the rate of the last year",
        "ratio",
        f"{_B}, last 365 days",
        "cells",
    ),
    "days_since_last": FeatureInfo(
        "{value:g} days since the last event in this cell", "days", f"all {_B}", "cells"
    ),
    "population_persons": FeatureInfo(
        "{value:,.0f} residents in this cell", "persons", "static reference data", "cells"
    ),
    "count_365d_per_1k_persons": FeatureInfo(
        "{value:.1f} events per 1,000 residents in the last year",
        "events per 1,000 persons",
        f"{_B}, last 365 days",
        "cells",
    ),
    "cal_day_of_week": FeatureInfo(
        "the window starts on weekday {value:g} (0 = Monday)", "0-6", "the calendar", "all"
    ),
    "cal_month": FeatureInfo("the window starts in month {value:g}", "1-12", "the calendar", "all"),
    "cal_day_of_year": FeatureInfo("day {value:g} of the year", "1-366", "the calendar", "all"),
    "cal_holiday_days_in_window": FeatureInfo(
        "{value:g} public holiday days fall in the forecast window",
        "days",
        "the holiday calendar",
        "all",
    ),
    "cal_spring_festival_in_window": FeatureInfo(
        "the Spring Festival falls in the forecast window ({value:g})",
        "0/1",
        "the holiday calendar",
        "all",
    ),
    "cal_days_to_next_holiday": FeatureInfo(
        "{value:g} days to the next public holiday", "days", "the holiday calendar", "all"
    ),
    # dispute case x origin
    "age_days": FeatureInfo(
        "the dispute has been open {value:.0f} days", "days", "the case's own record", "disputes"
    ),
    "days_since_last_mediation": FeatureInfo(
        "{value:.0f} days since the last mediation",
        "days",
        "the case's events before the origin",
        "disputes",
    ),
    "n_mediations": FeatureInfo(
        "{value:g} mediation attempts so far",
        "attempts",
        "the case's events before the origin",
        "disputes",
    ),
    "n_failed_mediations": FeatureInfo(
        "{value:g} failed mediations so far",
        "attempts",
        "the case's events before the origin",
        "disputes",
    ),
    "n_parties": FeatureInfo("{value:g} parties", "persons", "the case record", "disputes"),
    "log_amount_cny": FeatureInfo(
        "about {value:.1f} (log10 CNY) in dispute", "log10 CNY", "the case record", "disputes"
    ),
    "party_prior_disputes": FeatureInfo(
        "the parties had {value:g} earlier disputes",
        "disputes",
        "other cases of the same pseudonymous parties opened before the origin",
        "disputes",
    ),
    "party_prior_escalations": FeatureInfo(
        "the parties' earlier disputes escalated {value:g} times",
        "escalations",
        "escalation events of the same parties before the origin",
        "disputes",
    ),
    "nearby_disputes_{n}d": FeatureInfo(
        "{value:g} disputes opened in this or neighbouring cells in the last {n} days",
        "disputes",
        f"{_B}, last {{n}} days",
        "disputes",
    ),
    "nearby_escalations_{n}d": FeatureInfo(
        "{value:g} escalations in this or neighbouring cells in the last {n} days",
        "escalations",
        f"{_B}, last {{n}} days",
        "disputes",
    ),
    "category_{group}": FeatureInfo(
        "a {group} dispute ({value:g})", "0/1", "the case record", "disputes"
    ),
    "cal_season": FeatureInfo(
        "season {value:g} (0 winter, 1 spring, 2 summer, 3 autumn)",
        "0-3",
        "the calendar",
        "disputes",
    ),
    "already_escalated": FeatureInfo(
        "the case already escalated before ({value:g})",
        "0/1",
        "the case's events before the origin",
        "disputes",
    ),
    # geohazard sites and city-wide rain
    "rain_{n}h_mm": FeatureInfo(
        "{value:.1f} mm of rain in the last {n} hours",
        "mm",
        "readings before the origin",
        "geohazard",
    ),
    "rain_{n}d_mm": FeatureInfo(
        "{value:.1f} mm of rain in the last {n} days",
        "mm",
        "readings before the origin",
        "geohazard",
    ),
    "api_mm": FeatureInfo(
        "antecedent precipitation index {value:.1f} mm",
        "mm",
        "all readings before the origin",
        "geohazard",
    ),
    "effective_rain_3d_mm": FeatureInfo(
        "{value:.1f} mm effective rain over the last 3 days (decayed)",
        "mm",
        "readings of the last 4 days",
        "geohazard",
    ),
    "rain_24h_pct_rank": FeatureInfo(
        "the last 24 h of rain ranks at the {value:.0%} point of this site's history",
        "share",
        "this site's history before the origin",
        "geohazard",
    ),
    "rain_24h_vs_p99": FeatureInfo(
        "the last 24 h brought {value:.1f}x this site's 99th-percentile daily rain",
        "ratio",
        "this site's history before the origin",
        "geohazard",
    ),
    "caine_exceedance": FeatureInfo(
        "rain intensity reached {value:.1f}x the Caine threshold",
        "ratio",
        "readings of the last 72 h",
        "geohazard",
    ),
    "guzzetti_exceedance": FeatureInfo(
        "rain intensity reached {value:.1f}x the Guzzetti threshold",
        "ratio",
        "readings of the last 72 h",
        "geohazard",
    ),
    "velocity_mm_per_day": FeatureInfo(
        "the slope moved {value:.2f} mm per day recently",
        "mm/day",
        "displacement readings before the origin",
        "geohazard",
    ),
    "acceleration_mm_per_day2": FeatureInfo(
        "movement is changing by {value:.3f} mm/day per day",
        "mm/day²",
        "displacement readings before the origin",
        "geohazard",
    ),
    "tangent_angle_deg": FeatureInfo(
        "improved tangent angle {value:.0f}° (45° = steady creep)",
        "degrees",
        "displacement readings before the origin",
        "geohazard",
    ),
    "inverse_velocity_day_per_mm": FeatureInfo(
        "inverse velocity {value:.2f} day/mm",
        "day/mm",
        "displacement readings before the origin",
        "geohazard",
    ),
    "fukuzono_hours_to_failure": FeatureInfo(
        "the inverse-velocity trend reaches zero in {value:.0f} hours",
        "hours",
        "the last displacement readings before the origin",
        "geohazard",
    ),
    "steady_velocity_mm_per_day": FeatureInfo(
        "long-run creep {value:.2f} mm per day",
        "mm/day",
        "all displacement readings before the origin",
        "geohazard",
    ),
    "displacement_age_days": FeatureInfo(
        "the last displacement reading is {value:.1f} days old",
        "days",
        "displacement readings before the origin",
        "geohazard",
    ),
    "share_missing_{n}h": FeatureInfo(
        "{value:.0%} of expected sensor readings missing in the last {n} hours",
        "share",
        "readings before the origin",
        "geohazard",
    ),
    "spikes_removed_7d": FeatureInfo(
        "{value:g} spikes removed from sensor data in the last 7 days",
        "readings",
        "readings before the origin",
        "geohazard",
    ),
    "drift_flag": FeatureInfo(
        "a sensor's level has drifted ({value:g})", "0/1", "readings before the origin", "geohazard"
    ),
    "dead_sensor_flag": FeatureInfo(
        "a sensor sent nothing in the last hours ({value:g})",
        "0/1",
        "readings before the origin",
        "geohazard",
    ),
    "slope_class": FeatureInfo(
        "slope class {value:g} (1 gentle - 5 very steep)", "class", "static site data", "geohazard"
    ),
    "people_threatened": FeatureInfo(
        "{value:,.0f} people live in the threatened area",
        "persons",
        "static site data",
        "geohazard",
    ),
    "hazard_type_{group}": FeatureInfo(
        "a {group} site ({value:g})", "0/1", "static site data", "geohazard"
    ),
    "rain_day_mm": FeatureInfo(
        "{value:.1f} mm of rain today", "mm", "rain up to the end of the day (nowcast)", "citywide"
    ),
    "rain_2d_antecedent_mm": FeatureInfo(
        "{value:.1f} mm of rain on the two days before",
        "mm",
        "rain of the two previous days",
        "citywide",
    ),
    "rain_day_pct_rank": FeatureInfo(
        "today's rain ranks at the {value:.0%} point of all earlier days",
        "share",
        "rain history before the day",
        "citywide",
    ),
    "rain_day_vs_p99": FeatureInfo(
        "today's rain is {value:.1f}x the 99th-percentile day of earlier years",
        "ratio",
        "rain history before the day",
        "citywide",
    ),
    "landslides_{n}d": FeatureInfo(
        "{value:g} landslides city-wide in the last {n} days",
        "events",
        f"{_B}, last {{n}} days",
        "citywide",
    ),
}

_PLACEHOLDER = re.compile(r"\{(group|n|h)\}")
_VALUES = {
    "n": ("1", "3", "6", "7", "14", "15", "24", "28", "30", "72", "90", "91", "168", "360", "365"),
    "h": ("3", "14", "60"),
    "group": tuple(
        dict.fromkeys((*INCIDENT_GROUPS, *DISPUTE_CATEGORIES, *HAZARD_TYPES, "landslide"))
    ),
}


def _expand(patterns: dict[str, FeatureInfo]) -> dict[str, FeatureInfo]:
    """Concrete names for the usual parameter values, so exact-name look-ups work too."""
    out: dict[str, FeatureInfo] = {}
    for key, info in patterns.items():
        names = _PLACEHOLDER.findall(key)
        if not names:
            continue
        for combo in product(*(_VALUES[ph] for ph in names)):
            name, template, lookback = key, info.template, info.lookback
            for ph, v in zip(names, combo, strict=True):
                token = "{" + ph + "}"
                name = name.replace(token, v)
                template = template.replace(token, v.replace("_", " "))
                lookback = lookback.replace(token, v)
            out[name] = FeatureInfo(template, info.unit, lookback, info.domain)
    return out


FEATURES: dict[str, FeatureInfo] = {**_expand(PATTERNS), **PATTERNS}
"""Every feature: the patterns of ``PATTERNS`` plus their concrete names for usual values."""


def _pattern(key: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(key)
    regex = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex += re.escape(part)
        else:
            regex += {"group": r"(?P<group>[a-z_]+?)", "n": r"(?P<n>\d+)", "h": r"(?P<h>[\d.]+)"}[
                part
            ]
    return re.compile(f"^{regex}$")


def lookup(name: str) -> tuple[FeatureInfo, dict[str, str]] | None:
    """The catalog entry of a concrete feature name and the values of its placeholders."""
    if name in PATTERNS:
        return PATTERNS[name], {}
    for key, info in PATTERNS.items():
        if "{" in key:
            m = _pattern(key).match(name)
            if m:
                return info, {
                    k: v.replace("_", " ") for k, v in m.groupdict().items() if v is not None
                }
    return None


def describe(name: str, value: float) -> str:
    """A plain-words sentence for one feature value; the bare name if it is not catalogued."""
    found = lookup(name)
    if found is None:
        return f"{name} = {value:g}"
    info, parts = found
    try:
        return info.template.format(value=value, **parts)
    except (ValueError, KeyError):
        return f"{name} = {value}"


def catalog_markdown() -> str:
    """Markdown table of every catalogued feature (for docs/features.md)."""
    lines = [
        "| feature | meaning (template) | unit | may look at | table |",
        "|---|---|---|---|---|",
    ]
    for key, info in PATTERNS.items():
        lines.append(
            f"| `{key}` | {info.template} | {info.unit} | {info.lookback} | {info.domain} |"
        )
    return "\n".join(lines)
