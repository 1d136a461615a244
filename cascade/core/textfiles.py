"""Reading the text files a user hands cascade (run configs, presets, sweeps, prompt templates,
metadata and predictions): UTF-8 text (a byte-order mark allowed) and, for YAML, a mapping at the
top; anything else is one paragraph naming the file, the place and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cascade.core.errors import CascadeError, ConfigError


def read_text(path: Path, *, kind: str, error: type[CascadeError] = ConfigError) -> str:
    """The file's text, decoded as UTF-8 (a leading byte-order mark dropped).

    Args:
        path: the file.
        kind: what such files are, for the message ("run config", "prompt template").
        error: the error class to raise (its exit code is the command's).

    Raises:
        error: the file is not UTF-8 (latin-1 bytes, a binary file) or cannot be read.
    """
    try:
        data = path.read_bytes()
    except OSError as failure:
        raise error(f"{kind} {path} cannot be read ({failure.strerror or failure})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as failure:
        line = data[: failure.start].count(b"\n") + 1
        raise error(
            f"{kind} {path} line {line}: not UTF-8 text (byte 0x{data[failure.start]:02x} at "
            f"offset {failure.start}); cascade reads UTF-8 only: save it as UTF-8 (e.g. `iconv "
            "-f latin1 -t utf-8 OLD > NEW`), or check that it is the file you meant (a binary "
            "file cannot be read)"
        ) from None


def read_yaml_mapping(
    path: Path, *, kind: str, error: type[CascadeError] = ConfigError
) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is an empty one).

    Raises:
        error: the file is not UTF-8, not valid YAML (naming the line and column) or holds
            something other than a mapping at the top.
    """
    text = read_text(path, kind=kind, error=error)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as failure:
        raise error(
            f"{kind} {path}{_where(failure)}: not valid YAML ({_problem(failure)})"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(
            f"{kind} {path}: expected a mapping of `key: value` lines at the top, found a "
            f"{_yaml_type(data)}; see the shipped configs (`cascade list`) for the shape"
        )
    return data


def _where(failure: yaml.YAMLError) -> str:
    mark = getattr(failure, "problem_mark", None)
    return f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""


def _problem(failure: yaml.YAMLError) -> str:
    """The parser's complaint in one line (its own message spans several, with a snippet)."""
    problem = getattr(failure, "problem", None)
    context = getattr(failure, "context", None)
    if problem is None:
        return str(failure).splitlines()[0]
    return f"{context}: {problem}" if context else str(problem)


def _yaml_type(data: object) -> str:
    if isinstance(data, list):
        return "list"
    if isinstance(data, str):
        return "plain text"
    return type(data).__name__
