"""What the CLI prints: the two consoles (results on stdout, progress, notices and errors on
stderr), tables, a run's summary, and the terminal's `Display` of a command's work."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from cascade.commands import Bar, Bars

console = Console()
errors = Console(stderr=True)


def print_frame(frame: Any, title: str) -> None:
    """A table (a pandas DataFrame) with its title, every value as text."""
    rows = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    print_table(title, [str(c) for c in frame.columns], rows)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table; on a terminal too narrow for its boxed layout, a compact one without borders
    (no cell wrapped onto several lines), else one block of `column: value` lines a row."""
    from cascade.commands import views

    layout = views.fits(columns, rows, console.width)
    if layout == "vertical":
        console.print(title, style="italic", highlight=False)
        print_lines(views.vertical_lines(columns, rows))
        return
    compact = layout == "compact"
    table = Table(
        title=title,
        box=None if compact else box.HEAVY_HEAD,
        padding=(0, 1),
        collapse_padding=compact,
        pad_edge=not compact,
    )
    for column in columns:
        table.add_column(column, no_wrap=compact)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def print_lines(lines: Sequence[str]) -> None:
    """Lines of plain text, as they are (no markup, no highlighting, never re-wrapped)."""
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def print_json(value: Any) -> None:
    console.print_json(json.dumps(value))


def print_line(text: str) -> None:
    """One line of plain text (paths and ids are not highlighted)."""
    console.print(text, highlight=False)


def print_written(*paths: Path) -> None:
    print_line(f"written: {', '.join(str(p) for p in paths)}")


def print_notices(notices: Sequence[str]) -> None:
    """What the reader of the results must know first (scripted components, fallbacks)."""
    for notice in notices:
        console.print(f"[bold yellow]{notice}[/]", highlight=False)


def print_problem(text: str) -> None:
    errors.print(f"[bold red]{text}[/]", highlight=False, soft_wrap=True)


def size(n: float) -> str:
    """Bytes as a person reads them: 512 B, 1.5 KB, 2.0 GB."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def print_summary(metrics: dict[str, Any], summary: dict[str, Any]) -> None:
    """The score table of a run, after what its reader must know first (scripted components,
    fallbacks); a run in which no item has an answer shows no score at all."""
    from cascade.commands import views

    title = f"{summary['name']} on {metrics['benchmark']}"
    left_out = views.skipped_notice(summary.get("skipped") or {}, shown=10)
    print_notices([*(summary.get("notices") or []), *([left_out] if left_out else [])])
    unanswered, total = summary.get("unanswered", 0), summary.get("total", metrics["n_items"])
    if total and unanswered >= total:
        console.print(
            f"[bold red]{title}: no score: none of the {total} items has an answer[/] (the "
            "causes follow)",
            highlight=False,
        )
    else:
        print_frame(views.headline_table(metrics), title)
        if metrics.get("samples"):
            print_frame(
                views.samples_table(metrics),
                f"{metrics['samples']['k']} samples per item (the table above: majority vote)",
            )
        if unanswered:
            console.print(
                f"[bold red]{unanswered} of {total} items have no answer[/] (counted as wrong "
                "above; the causes follow)",
                highlight=False,
            )
    stages, reasoner = summary["stages"], summary["reasoner"]
    print_line(
        f"items {metrics['n_items']} (resumed {summary['resumed']}, processed "
        f"{summary['processed']}); errors {metrics['errors']}; truncated {metrics['truncated']}; "
        f"stage outputs computed {stages['computed']}, re-used {stages['reused']}; "
        f"answers computed {reasoner['computed']}, re-used {reasoner['reused']}"
    )
    if summary.get("agent"):
        print_line(views.agent_sentence(summary["agent"]))
    if (spent := views.cost_sentence(summary)) is not None:
        print_line(spent)
    if (claim := views.stored_sentence(summary)) is not None:
        print_line(claim)
    print_line(f"run directory: {summary['run_dir']}")


def progress_bar() -> Progress:
    """The bar long work shows on stderr: items done of the total, and the time taken.

    It leaves sys.stdout and sys.stderr alone: a library that sets up its logging while the bar
    is shown would otherwise write through the bar to the terminal, not to cascade.log."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        redirect_stdout=False,
        redirect_stderr=False,
    )


class _Bar:
    def __init__(self, shown: Progress, task: TaskID) -> None:
        self._shown, self._task = shown, task

    def progress(self, done: int, total: int) -> None:
        self._shown.update(self._task, completed=done, total=total)

    def label(self, text: str) -> None:
        self._shown.update(self._task, description=text)


class _Bars:
    def __init__(self, shown: Progress) -> None:
        self._shown = shown
        self._status: TaskID | None = None

    def add(self, label: str) -> Bar:
        return _Bar(self._shown, self._shown.add_task(label, total=None))

    def status(self, text: str) -> None:
        if self._status is None:  # below the bars added so far
            self._status = self._shown.add_task("", total=None, visible=False)
        self._shown.update(self._status, description=text, visible=bool(text))


class Terminal:
    """The `Display` of a command's work on this terminal: bars and notices on stderr, what
    model libraries and engine processes print in the log file (and, with --verbose, on
    stderr too), cascade's own lines still on the terminal."""

    def __init__(self, *, verbose: bool) -> None:
        self.verbose = verbose

    def notice(self, text: str) -> None:
        # On stderr, so that --json output stays JSON.
        errors.print(f"[bold yellow]notice:[/] {text}", highlight=False, soft_wrap=True)

    @contextlib.contextmanager
    def logged(self, log: Path, title: str) -> Iterator[None]:
        from cascade.commands import capture

        def echo(text: str) -> None:
            errors.print(text, end="", markup=False, highlight=False, soft_wrap=True)

        saved = [(c, c._file) for c in (console, errors)]
        try:
            with capture(log, echo=echo if self.verbose else None, title=title) as captured:
                console.file, errors.file = captured.stdout, captured.stderr
                yield
        finally:
            for shown, file in saved:
                shown._file = file

    @contextlib.contextmanager
    def bars(self) -> Iterator[Bars]:
        with progress_bar() as shown:
            yield _Bars(shown)
