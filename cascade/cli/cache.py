"""`cascade cache ls`: entries and size per component in the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cascade.cli.app import reported
from cascade.cli.printing import console, print_table, size


@reported
def ls(
    cache_dir: Annotated[Path | None, typer.Option(help="Cache root.")] = None,
) -> None:
    """Entries and size per component."""
    from cascade import commands

    usage = commands.cache_usage(cache_dir)
    print_table(
        f"cache at {usage.root}",
        ("namespace", "entries", "size"),
        [(u.namespace, str(u.entries), size(u.bytes)) for u in usage.namespaces],
    )
    console.print(f"total {size(sum(u.bytes for u in usage.namespaces))}")
