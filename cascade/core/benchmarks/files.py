"""Reading a benchmark's metadata or predictions file: records of a .json or .jsonl file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cascade.core.errors import BenchmarkError
from cascade.core.textfiles import read_text

RawRecord = Mapping[str, Any]
"""One object of a metadata or predictions file, as the file holds it."""


def read_records(path: Path) -> list[RawRecord]:
    """Records of a .json (a list) or .jsonl (one object per line) metadata or predictions file.

    Raises:
        BenchmarkError: naming the file (and the line where known) when it is missing, not UTF-8
            text (latin-1 bytes, a binary file), not valid JSON (e.g. cut off), not a list of
            objects, or holds no record at all.
    """
    if not path.is_file():
        raise BenchmarkError(f"benchmark metadata not found: {path}")
    text = read_text(path, kind="metadata or predictions file", error=BenchmarkError)
    if path.suffix == ".jsonl":
        records = []
        # A line ends at "\n" (or "\r\n") only: a JSON string may hold U+2028, U+0085 or a
        # form feed unescaped, at which `splitlines` would cut it.
        for number, line_text in enumerate(text.split("\n"), start=1):
            if not line_text.strip():
                continue
            try:
                records.append(json.loads(line_text))
            except json.JSONDecodeError as error:
                raise BenchmarkError(
                    f"{path} line {number}: not valid JSON ({error.msg}: column {error.colno}); "
                    "each line of a .jsonl file must be one complete JSON object (is the file "
                    "cut off?)"
                ) from None
    else:
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise BenchmarkError(
                f"{path} line {error.lineno}: not valid JSON ({error.msg}: column "
                f"{error.colno}); a .json file must hold one complete list of objects, one per "
                "item (is the file cut off?)"
            ) from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise BenchmarkError(f"{path}: expected a list of objects, one per item")
    if not records:
        raise BenchmarkError(f"{path} holds no items: expected one JSON object per item")
    return records
