"""`cascade describe`: print what the cascade hears in any audio files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cascade.cli.app import reported
from cascade.cli.options import AsJson, Captioners, Sets
from cascade.cli.printing import console


@reported
def describe(
    audio: Annotated[list[Path], typer.Argument(help="Audio files.")],
    captioner: Captioners = None,
    config: Annotated[
        str, typer.Option("--config", help="Run config for the default stages.")
    ] = "default",
    set_: Sets = None,
    as_json: AsJson = False,
) -> None:
    """Print what the cascade hears in any audio files: per stage and composed (uses the cache)."""
    import json

    from cascade import commands

    described = commands.describe(
        audio, config=config, captioners=captioner or (), overrides=set_ or ()
    )
    if as_json:
        console.print_json(json.dumps(described.clips, default=str))
    else:
        for clip in described.clips:
            console.rule(clip["audio"])
            for stage in clip["stages"]:
                state = "cached" if stage["cached"] else "computed"
                if stage["error"]:
                    console.print(
                        f"[red]{stage['stage']}: error: {stage['error']}[/]", highlight=False
                    )
                else:
                    console.print(
                        f"[bold]{stage['stage']}[/] ({stage['kind']}, {state}): {stage['text']}",
                        highlight=False,
                    )
            if clip["description"] is not None:
                console.print("[bold]composed description[/]")
                console.print(clip["description"], highlight=False, markup=False)
        counts = described.counts
        console.print(
            f"stage outputs computed {counts.computed}, re-used {counts.reused}, "
            f"failed {counts.failed}"
        )
    commands.check_described(described)
