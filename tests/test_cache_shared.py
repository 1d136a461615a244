"""The cache shared by many writers at once (processes here; machines on shared storage).

Every file is written under a unique temporary name and renamed into place: whatever the writers
do at the same time, and however one of them dies, a reader finds whole entries or none, and
nothing but entries (and a dead writer's ignored `.tmp` files) stays behind.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cascade.core import Cache, content_hash, write_atomic
from cascade.testing import sine

SHARED_KEYS = [f"{n:02x}" + "s" * 62 for n in range(24)]
NAMESPACE = "stages/scripted"
PAYLOAD = "x" * 200_000  # large enough that concurrent writes of one entry overlap


def own_keys(writer: int) -> list[str]:
    return [f"{writer:02x}{n:02x}" + "o" * 60 for n in range(8)]


def write_entries(root: str, writer: int) -> None:
    """One writer: every shared key (the same keys as every other writer), then its own keys."""
    cache = Cache(Path(root))
    for key in SHARED_KEYS:
        cache.put(NAMESPACE, key, {"key": key, "writer": writer, "payload": PAYLOAD})
    for key in own_keys(writer):
        cache.put(NAMESPACE, key, {"key": key, "writer": writer, "payload": PAYLOAD})


def run_all(target: Any, args: list[tuple[Any, ...]]) -> None:
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=target, args=a) for a in args]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
        assert p.exitcode == 0, f"a writer failed (exit code {p.exitcode})"


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def test_many_processes_writing_the_same_and_other_keys_leave_whole_entries_only(
    tmp_path: Path,
) -> None:
    writers = 4
    run_all(write_entries, [(str(tmp_path), w) for w in range(writers)])

    cache = Cache(tmp_path)
    expected = {*SHARED_KEYS, *(k for w in range(writers) for k in own_keys(w))}
    files = files_under(tmp_path)
    assert {p.name for p in files} == {f"{k}.json" for k in expected}  # no temporary file left
    for path in files:
        entry = json.loads(path.read_text(encoding="utf-8"))  # whole JSON, one writer's
        assert entry["key"] == path.stem and entry["payload"] == PAYLOAD
        assert cache.get(NAMESPACE, path.stem) == entry
    [usage] = cache.usage()
    assert (usage.namespace, usage.entries) == (NAMESPACE, len(expected))


def test_entries_are_readable_as_the_umask_allows_like_any_new_file(tmp_path: Path) -> None:
    # A cache shared between users: mkstemp's owner-only mode would lock the others out.
    Cache(tmp_path).put(NAMESPACE, SHARED_KEYS[0], {"text": "a caption"})
    [entry] = files_under(tmp_path)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o666 & ~umask()


def parts_then_hang(started: Any) -> Iterator[str]:
    yield '{"text": "' + "half of an entry " * 10_000  # more than a write buffer: on disk
    started.set()
    signal.pause()  # killed here, mid-write
    yield 'try"}'


def killed_writer(path: str, started: Any) -> None:
    write_atomic(Path(path), parts_then_hang(started))


def test_a_writer_killed_mid_write_leaves_nothing_a_reader_or_listing_sees(tmp_path: Path) -> None:
    key = SHARED_KEYS[0]
    entry = tmp_path / NAMESPACE / key[:2] / f"{key}.json"  # the layout of Cache
    spawn = multiprocessing.get_context("spawn")
    started = spawn.Event()
    writer = spawn.Process(target=killed_writer, args=(str(entry), started))
    writer.start()
    assert started.wait(timeout=60)
    os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
    writer.join(timeout=30)

    [leftover] = files_under(tmp_path)
    assert leftover.name.startswith(f".{key}.json.") and leftover.name.endswith(".tmp")
    assert leftover.read_text(encoding="utf-8").startswith('{"text": "half of an entry ')
    cache = Cache(tmp_path)
    assert cache.get(NAMESPACE, key) is None
    assert [u.entries for u in cache.usage()] == [0]

    cache.put(NAMESPACE, key, {"text": "a whole entry"})  # the next writer is not in the way
    assert cache.get(NAMESPACE, key) == {"text": "a whole entry"}
    assert [(u.entries, u.bytes) for u in cache.usage()] == [(1, entry.stat().st_size)]


def hash_clips(root: str, clips: list[str], out: str) -> None:
    cache = Cache(Path(root))
    Path(out).write_text(json.dumps([cache.audio_hash(Path(c)) for c in clips]))


def test_the_audio_hash_memo_written_by_processes_at_once_stays_valid(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    clips = [sine(tmp_path / "audio" / f"{n}.wav", frequency=300.0 + n) for n in range(12)]
    truth = [content_hash(c) for c in clips]
    root = tmp_path / "cache"
    outs = [tmp_path / f"hashes-{w}.json" for w in range(3)]
    run_all(hash_clips, [(str(root), [str(c) for c in clips], str(o)) for o in outs])

    for out in outs:
        assert json.loads(out.read_text()) == truth
    memos = files_under(root / "audio-hashes")
    assert len(memos) == len(clips)  # one memo per clip, no temporary file left
    assert sorted(m.read_text(encoding="utf-8") for m in memos) == sorted(truth)
    assert Cache(root).usage() == []  # memos are no component's entries


def test_a_read_that_meets_a_stale_nfs_handle_reads_the_replacing_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On NFS, another machine renaming a new copy over an entry being read makes the read fail
    # with ESTALE; the name already holds the new, whole copy.
    cache = Cache(tmp_path)
    cache.put(NAMESPACE, SHARED_KEYS[0], {"text": "a caption"})
    read_text = Path.read_text
    stale = [True]

    def read_once_stale(self: Path, *args: Any, **kwargs: Any) -> str:
        if stale.pop() if stale else False:
            raise OSError(errno.ESTALE, os.strerror(errno.ESTALE), str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_once_stale)
    assert cache.get(NAMESPACE, SHARED_KEYS[0]) == {"text": "a caption"}
