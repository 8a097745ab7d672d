"""Chinese place names in English: official forms where known, else pinyin (issue 12 §4).

English pages must not show Chinese: a county, township, community or hazard-site name
is written as its official English form when :data:`OFFICIAL` has it, otherwise in
pinyin with its administrative or hazard suffix translated ("城关镇" -> "Chengguan
Town", "张家湾滑坡" -> "Zhangjiawan Landslide"). Pure functions.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pypinyin import lazy_pinyin

# Official English forms of the demo city's county names (DOMAIN.md).
OFFICIAL: dict[str, str] = {
    "大观区": "Daguan District",
    "迎江区": "Yingjiang District",
    "宜秀区": "Yixiu District",
    "桐城市": "Tongcheng City",
    "潜山市": "Qianshan City",
    "怀宁县": "Huaining County",
    "太湖县": "Taihu County",
    "宿松县": "Susong County",
    "望江县": "Wangjiang County",
    "岳西县": "Yuexi County",
}
# suffix -> English, longest first when matching
SUFFIXES: dict[str, str] = {
    "不稳定斜坡": "Unstable Slope",
    "泥石流沟": "Debris Flow Gully",
    "地面塌陷": "Ground Collapse",
    "泥石流": "Debris Flow",
    "隐患点": "Hazard Site",
    "街道": "Subdistrict",
    "社区": "Community",
    "滑坡": "Landslide",
    "崩塌": "Rockfall",
    "自治县": "Autonomous County",
    "镇": "Town",
    "乡": "Township",
    "村": "Village",
    "组": "Group",  # a villagers' group, after its number ("8组")
    "区": "District",
    "县": "County",
    "市": "City",
}
_CJK = re.compile(r"[\u3400-\u9fff]+")
_BY_LENGTH = sorted(SUFFIXES, key=len, reverse=True)
_GLUED = re.compile(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
_WORD = re.compile(
    r"(.{2,}?)(" + "|".join(sorted(SUFFIXES, key=len, reverse=True)) + r")",
)


def pinyin_word(text: str) -> str:
    """``"白泽湖"`` -> ``"Baizehu"`` (one capitalised word, tones dropped)."""
    return "".join(lazy_pinyin(text)).capitalize()


def _run_in_english(run: str, after_number: bool = False) -> str:
    if run in OFFICIAL:
        return OFFICIAL[run]
    if run in SUFFIXES:
        return SUFFIXES[run]
    if after_number:  # "8组滑坡": the run opens with the numbered unit's suffix
        lead = next((s for s in _BY_LENGTH if run.startswith(s)), None)
        if lead is not None:
            rest = run[len(lead) :]
            return f"{SUFFIXES[lead]} {_run_in_english(rest)}" if rest else SUFFIXES[lead]
    words: list[str] = []
    pos = 0
    for match in _WORD.finditer(run):
        stem, suffix = match.group(1), match.group(2)
        words.append(OFFICIAL.get(stem + suffix) or f"{pinyin_word(stem)} {SUFFIXES[suffix]}")
        pos = match.end()
    if pos < len(run):  # a bare suffix after a place ("黄尾镇" + "崩塌") is a word too
        rest = run[pos:]
        words.append(SUFFIXES.get(rest) or pinyin_word(rest))
    return " ".join(words)


@lru_cache(maxsize=65536)
def english(name: str) -> str:
    """``name`` with every run of Chinese characters written in English."""
    for zh, en in OFFICIAL.items():
        name = name.replace(zh, en)
    out = _CJK.sub(
        lambda m: _run_in_english(
            m.group(0), after_number=m.start() > 0 and name[m.start() - 1].isdigit()
        ),
        name,
    )
    return _GLUED.sub(" ", out) if out != name else out  # "Community8" -> "Community 8"
