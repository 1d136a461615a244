"""The typer app: its global options, and how a command's error becomes one paragraph and its exit
code (`reported`). The commands are registered on it in `cascade/cli/__init__.py`."""

from __future__ import annotations

import errno
import functools
import sys
import traceback
from collections.abc import Callable
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer

from cascade.cli.printing import Terminal, errors

app = typer.Typer(
    help="Evaluate audio reasoning benchmarks by a cascade: audio front-end -> text -> reasoner.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
cache_app = typer.Typer(help="Inspect the content-addressed cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
STATE = {"debug": False, "verbose": False}

P = ParamSpec("P")
R = TypeVar("R")


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks too (exit codes stay the same).")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also show the model libraries' and engines' own output, which otherwise goes "
            "only to cascade.log in the run directory.",
        ),
    ] = False,
) -> None:
    STATE["debug"] = debug
    STATE["verbose"] = verbose


def terminal() -> Terminal:
    """The display of a command's work on this terminal, as the global options ask."""
    return Terminal(verbose=STATE["verbose"])


def reported(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a CascadeError into one clear paragraph and its exit code; an interrupt is a stop
    (exit code 4). The codes are `cascade.core.errors.ExitCode`; --debug adds the traceback
    before the paragraph and keeps the code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # Imported on use: `cascade --help` stays fast (commands imports every layer).
        from cascade.commands import CascadeError, ExitCode, ItemsFailed

        try:
            return command(*args, **kwargs)
        except CascadeError as error:
            label = "failed items" if isinstance(error, ItemsFailed) else "error"
            _stop(f"[bold red]{label}:[/] {error}", error.exit_code)
        except OSError as error:
            paragraph = storage_error(error)
            if paragraph is None:
                raise  # a bug: its traceback, whatever the flags
            _stop(f"[bold red]error:[/] {paragraph}", ExitCode.ERROR)
        except KeyboardInterrupt:
            _stop(
                "[bold red]interrupted[/]: what was computed is on disk or in the cache",
                ExitCode.STOPPED,
            )

    return wrapper


def _stop(paragraph: str, code: int) -> NoReturn:
    """End the command with `paragraph` on stderr and exit `code`; with --debug the traceback of
    the exception being handled comes first (the code stays the documented one)."""
    if STATE["debug"]:
        traceback.print_exc(file=sys.stderr)
    errors.print(paragraph, highlight=False, soft_wrap=True)
    raise typer.Exit(code) from None


_STORAGE_FIXES = {
    errno.ENOSPC: "free some space, or put the run (--run-dir) or the cache ($CASCADE_CACHE) on "
    "another disk",
    errno.EDQUOT: "free some of your quota, or put the run (--run-dir) or the cache "
    "($CASCADE_CACHE) elsewhere",
    errno.EROFS: "put the run (--run-dir) or the cache ($CASCADE_CACHE) on a writable disk",
    errno.EACCES: "give yourself write access, or put the run (--run-dir) or the cache "
    "($CASCADE_CACHE) elsewhere",
    errno.ENOTDIR: "a file stands where a folder of that path should be: move it, or put the run "
    "(--run-dir) or the cache ($CASCADE_CACHE) elsewhere",
    errno.EEXIST: "a file stands where a folder of that path should be: move it, or put the run "
    "(--run-dir) or the cache ($CASCADE_CACHE) elsewhere",
}


def storage_error(error: OSError) -> str | None:
    """The paragraph for a write that the disk refused (full, quota, read-only, permission), or
    None for any other OSError (a bug, shown with its traceback)."""
    fix = _STORAGE_FIXES.get(error.errno or 0)
    if fix is None:
        return None
    where = f" writing {error.filename}" if error.filename else ""
    return (
        f"{error.strerror or error}{where}: {fix}. Everything written before this point is kept; "
        "run the same command again to resume."
    )
