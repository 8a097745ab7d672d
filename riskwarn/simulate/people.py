"""Fake but realistic-looking personal data for the raw dispute extract.

Names (common Chinese surnames and given names), mobile numbers (13x/15x/18x...)
and 18-digit resident ID numbers with a valid GB 11643 check digit. None of it is
real; all of it must be dropped or pseudonymised by the source mapping.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢汪"
)
GIVEN = list(
    "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红建国志文斌鹏辉林云海波宇浩凯丹宁"
)
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "173",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "199",
]
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = np.array(list("10X98765432"))


def fake_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` two- or three-character Chinese names (e.g. 张伟, 李秀英)."""
    if n == 0:
        return np.array([], dtype=str)
    s = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    g1 = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    g2 = np.where(rng.random(n) < 0.6, np.array(GIVEN)[rng.integers(0, len(GIVEN), n)], "")
    return np.char.add(np.char.add(s, g1), g2)


def fake_mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` 11-digit mainland mobile numbers."""
    if n == 0:
        return np.array([], dtype=str)
    prefix = np.array(MOBILE_PREFIXES)[rng.integers(0, len(MOBILE_PREFIXES), n)]
    rest = np.char.zfill(rng.integers(0, 100_000_000, n).astype(str), 8)
    return np.char.add(prefix, rest)


def fake_id_numbers(rng: np.random.Generator, n: int, region_codes: np.ndarray) -> np.ndarray:
    """``n`` 18-digit resident ID numbers: region (6), birth date (8), sequence (3), check."""
    if n == 0:
        return np.array([], dtype=str)
    birth0 = np.datetime64(dt.date(1940, 1, 1))
    birth = birth0 + rng.integers(0, 365 * 65, n).astype("timedelta64[D]")
    bstr = np.char.replace(np.datetime_as_string(birth, unit="D"), "-", "")
    seq = np.char.zfill(rng.integers(1, 1000, n).astype(str), 3)
    body = np.char.add(np.char.add(region_codes.astype(str), bstr), seq)
    digits = np.frombuffer(np.char.encode(body, "ascii").astype("S17").tobytes(), dtype=np.uint8)
    digits = digits.reshape(n, 17) - ord("0")
    check = _ID_CHECK[(digits * _ID_WEIGHTS).sum(axis=1) % 11]
    return np.char.add(body, check)
