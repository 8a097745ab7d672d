"""What the read stage yields: chunks of all-text rows, bad records, file problems."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


class FileProblem(Exception):
    """A whole file cannot be read as a table (reason code + one-line message)."""

    def __init__(self, reason: str, message: str, original: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.original = original


class FileChanged(Exception):
    """A file changed (rewritten, appended to, truncated or replaced) while it was read:
    what was read may mix two versions of it, so nothing of it is written (no lake
    commit, no quarantine record, no batch record) and the run is refused with one line
    saying so. ``path`` is the file, ``what`` says which change was seen."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(
            f"{path}: the file changed while it was read ({what}); nothing was written for "
            "it; re-run when the export is complete"
        )
        self.path = path
        self.what = what


def repeated_column(names: Sequence[Any], used: Collection[str]) -> FileProblem | None:
    """The refusal of a header that names a column in ``used`` (the mapping reads or
    pseudonymises it) more than once: which of them holds the row's value cannot be told,
    so the whole file is quarantined (``duplicate_column``) rather than one of them kept
    (pandas read the second as ``<name>.1``, an extra column, and the first was stored).
    None when no such column repeats."""
    texts = [str(n) for n in names]
    if texts:  # a byte-order mark before the first name is no part of it
        texts[0] = texts[0].removeprefix("\ufeff")
    for name in dict.fromkeys(texts):
        at = [i + 1 for i, n in enumerate(texts) if n == name]
        if len(at) > 1 and name in used:
            return FileProblem(
                "duplicate_column",
                f"ambiguous header: column '{name}' appears {len(at)} times (columns "
                f"{', '.join(map(str, at))}) and the mapping reads it; which one holds the "
                "value cannot be told: correct the export so that each column appears once "
                "and ingest the file again",
            )
    return None


@dataclass(frozen=True)
class BadRecord:
    """A record (line) that is not a row of the table; quarantined on its own."""

    row: int  # 1-based data record number (header and blank lines excluded)
    line: int  # physical line number in the file (1-based; header lines included)
    reason: str  # bad_line / unclosed_quote / line_too_long / carriage_return / bad_encoding /
    # bom_in_line / unterminated_last_line / repeated_header
    detail: str
    length: int  # characters
    sha256: str

    @property
    def original(self) -> str:
        """What the quarantine keeps: where the line is and a fingerprint, not its text."""
        return json.dumps(
            {"line": self.line, "length": self.length, "sha256": self.sha256, "detail": self.detail}
        )


# a text column as (codes, unique texts): the texts are ``uniques[codes]``
Factorized = tuple[np.ndarray, np.ndarray]


@dataclass
class RawChunk:
    """All-text rows of a part of a file, their record numbers, and the bad records."""

    frame: pd.DataFrame
    rows: np.ndarray  # int64, 1-based data record number of each frame row
    bad: list[BadRecord]
    # the reader knows that no value holds a NUL byte or is longer than
    # limits.max_field_chars (the map stage then skips that check)
    plain_text: bool = False
    # text columns the reader already factorized (Parquet: from its typed values), by name
    factorized: dict[str, Factorized] = field(default_factory=dict)
