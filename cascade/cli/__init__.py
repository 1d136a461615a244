"""The `cascade` command: one thin module per command (or small family) that parses its options,
calls one function of `cascade.commands` for the work and prints what it returns.

`app` holds the typer app, the global options and the error reporting (`reported`); `printing`
the consoles, tables and the terminal's display of long work; `options` the options several
commands share. A new command is a module here and one line below.
"""

from cascade.cli import ablate, cache, compare, cues, describe, judge, listing, run, runs, score
from cascade.cli.app import app, cache_app

app.command()(run.run)
app.command()(score.score)
app.command()(compare.compare)
app.command()(describe.describe)
app.command()(ablate.ablate)
app.command()(cues.cues)
app.command()(judge.judge)
app.command()(runs.runs)
app.command("list")(listing.list_)
cache_app.command("ls")(cache.ls)


def main() -> None:
    """Console entry point."""
    app(prog_name="cascade")


__all__ = ["app", "main"]
