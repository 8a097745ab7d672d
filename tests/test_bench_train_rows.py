"""bench/bench_train_rows.py: each variant's command differs from the case's own
protocol only in the training-origin options (pure functions, nothing run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_train_rows as btr


def _options(args: list[str]) -> dict[str, str]:
    return {a: args[i + 1] for i, a in enumerate(args) if a.startswith("--")}


@pytest.mark.parametrize("case", ["chicago", "cincinnati"])
def test_a_variant_changes_only_the_training_origin_options(case: str, tmp_path: Path) -> None:
    own = _options(btr.case_args(case, tmp_path))
    got = _options(btr.variant_args(case, tmp_path, 364, 14, refit_days=84))
    changed = {k for k in got.keys() | own.keys() if got.get(k) != own.get(k)}
    assert changed <= {"--train-window-days", "--train-step-days", "--refit-days"}
    assert got["--train-window-days"] == "364"
    assert got["--train-step-days"] == "14"
    assert got["--refit-days"] == "84"
    # without --refit-days the case's own cadence stays (Chicago's protocol has none: 28)
    plain = _options(btr.variant_args(case, tmp_path, 728, 7))
    assert plain.get("--refit-days") == own.get("--refit-days")
    assert "--max-bin" not in plain


def test_a_max_bin_variant_adds_only_max_bin(tmp_path: Path) -> None:
    own = _options(btr.case_args("chicago", tmp_path))
    got = _options(btr.variant_args("chicago", tmp_path, 364, 7, max_bin=64))
    changed = {k for k in got.keys() | own.keys() if got.get(k) != own.get(k)}
    # --train-step-days 7 is stated (Chicago's protocol leaves it to its default, 7)
    assert changed <= {"--max-bin", "--train-step-days"} and got["--train-step-days"] == "7"
    assert got["--max-bin"] == "64"


def test_variants_parse_in_order_with_the_reference_first() -> None:
    assert list(btr.parse_variants("ref=728:7,A=364:7,B=728:14").items()) == [
        ("ref", (728, 7, None)),
        ("A", (364, 7, None)),
        ("B", (728, 14, None)),
    ]
    assert btr.parse_variants("ref=364:7,bin64=364:7:64")["bin64"] == (364, 7, 64)
    with pytest.raises(SystemExit):
        btr.parse_variants("ref=728:7")
    with pytest.raises(SystemExit):
        btr.parse_variants("ref=728,A=364:7")
