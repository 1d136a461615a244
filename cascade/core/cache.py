"""Content-addressed store of stage outputs and reasoner outputs, shared by every run.

Keys hash what determines an output and nothing else: the clip's content hash (or the exact rendered
messages) plus the component's identity (name, version, output-affecting config). Entries are JSON
files written atomically (temp file + rename), so a reader never sees half an entry and a killed
run loses at most what it had not yet written. Runtime options (device, batch size) never enter a
key. Errors, empty and truncated outputs are never stored.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cascade.core.audio import content_hash
from cascade.core.components import Identity, digest
from cascade.core.records import ChatMessage

DEFAULT_ROOT = Path("~/.cache/cascade")


def default_root() -> Path:
    return Path(os.environ.get("CASCADE_CACHE") or DEFAULT_ROOT).expanduser()


def stage_key(audio_hash: str, identity: Identity, conditioning: Mapping[str, Any] | None) -> str:
    """Key of one front-end output: clip content + component identity (+ question when used)."""
    return digest({"audio": audio_hash, "component": identity.digest, "conditioning": conditioning})


def messages_hash(messages: Sequence[ChatMessage]) -> str:
    return digest([[m.role, m.content] for m in messages])


def reasoner_key(messages: Sequence[ChatMessage], identity: Identity, sample_index: int) -> str:
    """Key of one reasoner output: the exact rendered messages + reasoner identity + sample."""
    return digest(
        {"messages": messages_hash(messages), "component": identity.digest, "sample": sample_index}
    )


def write_atomic(path: Path, text: str | Iterable[str]) -> None:
    """Write `text` (a string, or its parts in order) to `path` so that readers see either the
    old file or the whole new one. Parts are written one by one, never joined in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines([text] if isinstance(text, str) else text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class NamespaceUsage:
    namespace: str
    entries: int
    bytes: int


class Cache:
    """The store under one root folder: `<root>/<namespace>/<key[:2]>/<key>.json`.

    Namespaces are `stages/<component>` and `reasoners/<component>`, so `cascade cache ls` can say
    what each component holds.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_root()).expanduser()

    def _path(self, namespace: str, key: str) -> Path:
        return self.root / namespace / key[:2] / f"{key}.json"

    def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        path = self._path(namespace, key)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return None  # cannot happen with atomic writes; treat a damaged entry as a miss
        return value if isinstance(value, dict) else None

    def put(self, namespace: str, key: str, value: Mapping[str, Any]) -> None:
        write_atomic(self._path(namespace, key), json.dumps(value, ensure_ascii=False))

    def audio_hash(self, path: Path) -> str:
        """The clip's content hash, memoised by (path, size, mtime) so files are read once."""
        stat = path.stat()
        memo_key = digest([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
        memo = self._path("audio-hashes", memo_key)
        try:
            return memo.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            value = content_hash(path)
            write_atomic(memo, value)
            return value

    def usage(self) -> list[NamespaceUsage]:
        """Entry count and size per namespace (one per component)."""
        result = []
        for kind in ("stages", "reasoners"):
            base = self.root / kind
            if not base.is_dir():
                continue
            for folder in sorted(p for p in base.iterdir() if p.is_dir()):
                files = list(_entries(folder))
                result.append(
                    NamespaceUsage(
                        namespace=f"{kind}/{folder.name}",
                        entries=len(files),
                        bytes=sum(f.stat().st_size for f in files),
                    )
                )
        return result


def _entries(folder: Path) -> Iterator[Path]:
    return (p for p in folder.glob("*/*.json") if p.is_file())
