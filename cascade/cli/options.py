"""Options that several commands share, declared once so that their help reads the same."""

from __future__ import annotations

from typing import Annotated

import typer

Captioners = Annotated[
    list[str] | None,
    typer.Option("--captioner", "-c", help="Front-end stage (preset or registered name); repeat."),
]
Sets = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="Override any config key: key=value.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _registered_executor(name: str | None) -> str | None:
    """A usage error (exit code 2) for an executor name nothing registered."""
    if name is None:
        return None
    from cascade.commands import executors

    if name not in executors():
        raise typer.BadParameter(
            f"no executor named {name!r}; registered: {', '.join(executors())}"
        )
    return name


JudgeExecutor = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Run the judge with this executor: local, ray, or one a package registers "
        "(default: as the run ran).",
        callback=_registered_executor,
    ),
]
