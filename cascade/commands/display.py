"""What a command shows while it works, as an interface: the CLI supplies the terminal's, a library
user a quiet one (`Quiet`) or their own.

A command's work (a run, a sweep, a judge) opens the log that keeps model libraries' output off the
screen, shows progress bars and passes on what the reader must know first; how any of it looks is
the display's business, so the work lives in `commands` and the CLI stays printing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from cascade.core.logs import capture

__all__ = ["Bar", "Bars", "Display", "Quiet", "capture"]


class Bar(Protocol):
    """One line of progress (a run, a variation of a sweep)."""

    def progress(self, done: int, total: int) -> None: ...

    def label(self, text: str) -> None:
        """Replace the line's label (what the run is doing now)."""


class Bars(Protocol):
    """The progress lines shown together while one piece of work runs."""

    def add(self, label: str) -> Bar: ...

    def status(self, text: str) -> None:
        """A line of its own saying what every bar waits for; an empty text hides it."""


class Display(Protocol):
    def notice(self, text: str) -> None:
        """Something the reader of the results must know first (a damaged file rebuilt)."""

    def logged(self, log: Path, title: str) -> AbstractContextManager[None]:
        """While open, what model libraries and engines print goes to the `log` file."""

    def bars(self) -> AbstractContextManager[Bars]: ...


class _NoBar:
    def progress(self, done: int, total: int) -> None:
        pass

    def label(self, text: str) -> None:
        pass


class _NoBars:
    def add(self, label: str) -> Bar:
        return _NoBar()

    def status(self, text: str) -> None:
        pass


class Quiet:
    """Shows nothing and captures nothing: for library use, where the returned records carry
    every notice and the caller's own logging stays as it is."""

    def notice(self, text: str) -> None:
        pass

    def logged(self, log: Path, title: str) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def bars(self) -> Iterator[Bars]:
        yield _NoBars()
