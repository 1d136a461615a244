"""Third-party output goes to a log file, so that the terminal shows only cascade's own lines.

Model libraries write to the terminal in three ways: Python logging and warnings, C and C++ code
writing to file descriptors 1 and 2 (tcmalloc, torch's NUMA notices), and child processes that
inherit those descriptors (vLLM's engine core runs in one). Python handlers catch only the
first, so `capture` points descriptors 1 and 2 themselves at the log file for the duration of
the work, and hands cascade's console a duplicate of the original terminal to keep writing to.
Processes that outlive the capture (an engine kept for the process) go on writing to the file.
With `echo`, what lands in the file is also passed on (the CLI's `--verbose` shows it).
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

LOG_FILE = "cascade.log"
"""The log file's name in a run directory (or a sweep folder)."""

Echo = Callable[[str], None]


@dataclass
class Capture:
    """An active capture: the log file, and streams that still reach the original terminal."""

    path: Path
    stdout: TextIO
    """What `sys.stdout` showed before the capture (a duplicate of the terminal)."""
    stderr: TextIO
    """What `sys.stderr` showed before the capture."""
    ending: list[Callable[[], None]] = field(default_factory=list)

    def on_end(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the capture ends, while output still goes to the log: e.g. stop
        an engine process whose shutdown messages would otherwise reach the terminal."""
        if callback not in self.ending:
            self.ending.append(callback)

    def mark(self) -> int:
        """A position in the log; `since(mark)` returns what was written after it."""
        _flush_python_streams()
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def since(self, mark: int) -> str:
        _flush_python_streams()
        time.sleep(0.2)  # let a dying child process's last lines reach the file
        with self.path.open("rb") as f:
            f.seek(mark)
            return f.read().decode("utf-8", errors="replace")


_ACTIVE: Capture | None = None


def active() -> Capture | None:
    """The capture in force in this process, if any (a component reads its output from it)."""
    return _ACTIVE


@contextmanager
def capture(path: Path, *, echo: Echo | None = None, title: str = "") -> Iterator[Capture]:
    """Send descriptors 1 and 2 (and Python logging at INFO) to `path`, appending, until the
    block ends, including on an error. `echo`, if given, receives everything written to the file
    while the capture lasts."""
    global _ACTIVE
    if _ACTIVE is not None:  # nested (a sweep's runs): the outer capture already holds it all
        yield _ACTIVE
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    _flush_python_streams()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(log_fd, f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {title}\n".encode())
    start = os.lseek(log_fd, 0, os.SEEK_END)
    current = Capture(
        path,
        stdout=_terminal(sys.stdout, 1, saved[1]),
        stderr=_terminal(sys.stderr, 2, saved[2]),
    )
    handler = logging.FileHandler(path, encoding="utf-8")  # appends, as the descriptors do
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    tail = _Tail(path, start, echo) if echo is not None else None
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        root.addHandler(handler)
        if level > logging.INFO or level == logging.NOTSET:
            root.setLevel(logging.INFO)
        _ACTIVE = current
        yield current
    finally:
        _ACTIVE = None
        try:
            for callback in current.ending:
                callback()
        finally:
            root.removeHandler(handler)
            handler.close()
            root.setLevel(level)
            _flush_python_streams()
            if tail is not None:
                tail.stop()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
            for stream in (current.stdout, current.stderr):
                if stream is not sys.stdout and stream is not sys.stderr:
                    stream.close()  # closefd=False: the saved descriptor is closed below
            for copy in saved.values():
                os.close(copy)
            os.close(log_fd)


def _terminal(stream: TextIO, fd: int, saved: int) -> TextIO:
    """A stream to what `stream` reached before the capture: `stream` itself when it does not
    write to descriptor `fd` (a test runner's buffer), else a new one on the saved duplicate."""
    try:
        own = stream.fileno() == fd
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        own = False
    if not own:
        return stream
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return open(saved, "w", encoding=encoding, errors="replace", buffering=1, closefd=False)


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()


class _Tail:
    """Passes what is appended to the log file to `echo`, line by line, until stopped."""

    def __init__(self, path: Path, start: int, echo: Echo) -> None:
        self._file = path.open("rb")
        self._file.seek(start)
        self._echo = echo
        self._pending = b""
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cascade-log-tail", daemon=True)
        self._thread.start()

    def _pass_on(self) -> bool:
        chunk = self._file.read()
        if not chunk:
            return False
        lines, _, self._pending = (self._pending + chunk).rpartition(b"\n")
        if lines:
            self._echo(lines.decode("utf-8", errors="replace") + "\n")
        return True

    def _run(self) -> None:
        while not self._stopped.is_set():
            if not self._pass_on():
                self._stopped.wait(0.1)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._pass_on()
        if self._pending:
            self._echo(self._pending.decode("utf-8", errors="replace") + "\n")
        self._file.close()
