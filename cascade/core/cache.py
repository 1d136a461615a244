"""Content-addressed store of stage outputs and reasoner outputs, shared by every run.

Keys hash what determines an output and nothing else: the clip's content hash (or the exact rendered
messages) plus the component's identity (name, version, output-affecting config). Entries are JSON
files written atomically (temp file + rename), so a reader never sees half an entry and a killed
run loses at most what it had not yet written. Runtime options (device, batch size) never enter a
key. Errors and empty answers are never stored; an answer that stopped at its token budget is
(flagged as truncated: the budget is part of the reasoner's identity, so the same request would
stop at the same place).

Many processes on many machines may share one cache (README "The cache on shared storage"): every
file is written under a unique hidden temporary name in its own folder (`.<name>.<random>.tmp`)
and renamed into place, with no lock files; a writer that dies leaves at most such a temporary
file, which no reader and no listing ever takes for an entry.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cascade.core.audio import content_hash
from cascade.core.components import Identity, digest
from cascade.core.errors import StorageError
from cascade.core.records import ChatMessage

DEFAULT_ROOT = Path("~/.cache/cascade")


def default_root() -> Path:
    return Path(os.environ.get("CASCADE_CACHE") or DEFAULT_ROOT).expanduser()


def stage_key(audio_hash: str, identity: Identity, conditioning: Mapping[str, Any] | None) -> str:
    """Key of one front-end output: clip content + component identity (+ question when used)."""
    return digest({"audio": audio_hash, "component": identity.digest, "conditioning": conditioning})


def messages_hash(messages: Sequence[ChatMessage]) -> str:
    """Hash of a conversation: each message's role and content, and its tool calls or the call
    it answers when it has them (so a plain conversation hashes as it always did)."""
    return digest([_message_parts(m) for m in messages])


def _message_parts(message: ChatMessage) -> list[Any]:
    parts: list[Any] = [message.role, message.content]
    if message.tool_calls or message.tool_call_id is not None:
        parts += [[c.to_json() for c in message.tool_calls], message.tool_call_id]
    return parts


def reasoner_key(
    messages: Sequence[ChatMessage],
    identity: Identity,
    sample_index: int,
    tools: Sequence[Mapping[str, Any]] = (),
) -> str:
    """Key of one reasoner output: the exact rendered messages + reasoner identity + sample (+
    the tool schemas offered, for a turn of an agent run with native tool calling)."""
    key: dict[str, Any] = {
        "messages": messages_hash(messages),
        "component": identity.digest,
        "sample": sample_index,
    }
    if tools:
        key["tools"] = digest(list(tools))
    return digest(key)


TEMP_SUFFIX = ".tmp"
"""Ends the name of every file being written under the cache: `.<name>.<random>.tmp`."""

STALE_READS = 3
"""Reads of one file that meet a stale NFS file handle before it counts as missing."""


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A new, empty temporary file beside `path` for the block to write; when the block ends
    without an error it replaces `path` in one rename, otherwise it is removed.

    The name is unique (random, created exclusively) so that writers on other machines never
    share it, and hidden with the suffix `TEMP_SUFFIX` so that nothing takes it for an entry. Its
    permissions follow the umask like any new file (not mkstemp's owner-only mode), so a cache
    shared between users stays readable.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str | Iterable[str]) -> None:
    """Write `text` (a string, or its parts in order) to `path` so that readers see either the
    old file or the whole new one. Parts are written one by one, never joined in memory."""
    with replacing(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        f.writelines([text] if isinstance(text, str) else text)
        f.flush()
        os.fsync(f.fileno())


def read_entry(path: Path) -> str | None:
    """The text of a file written by `write_atomic`, or None when there is none.

    On NFS, a reader whose file is replaced by another machine's rename while it reads gets a
    stale file handle (ESTALE); the name then holds the other writer's whole file, so read again.
    """
    for _ in range(STALE_READS):
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno != errno.ESTALE:
                raise
    return None


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

    def check_writable(self) -> None:
        """Raise StorageError unless a file can be written under the root and removed again.

        A real write, made before the first item: permission bits do not stop root, and a
        read-only mount, a full disk or a file where the folder should be show only then (later,
        every item would fail as if its audio could not be read).
        """
        probe = self.root / f".write-check.{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with probe.open("x", encoding="utf-8") as f:
                f.write("cascade checks that its cache can be written\n")
                f.flush()
                os.fsync(f.fileno())
            probe.unlink()
        except OSError as error:
            reason = (
                "a file is where the folder should be"
                if isinstance(error, FileExistsError | NotADirectoryError)
                else f"{error.strerror or error}"
            )
            raise StorageError(
                f"the cache at {self.root} cannot be written ({reason}): every front-end output "
                "and answer is stored there before it is used. Point CASCADE_CACHE (or the "
                "config's cache_dir) at a folder you can write to, or make this one writable."
            ) from None

    def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        raw = read_entry(self._path(namespace, key))
        if raw is None:
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
        known = read_entry(memo)
        if known is not None and known.strip():
            return known.strip()
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
    """The entries of one namespace: `<key[:2]>/<key>.json`, never a writer's temporary file."""
    return (p for p in folder.glob("*/*.json") if p.is_file())
