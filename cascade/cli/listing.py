"""`cascade list`: registered components, benchmarks and executors, presets and prompts."""

from __future__ import annotations

from cascade.cli.app import reported
from cascade.cli.printing import print_table


@reported
def list_() -> None:
    """Registered captioners, reasoners, benchmarks, executors, presets and prompts."""
    from cascade import commands

    found = commands.inventory()
    for table, entries in found.registered.items():
        print_table(
            f"{table}s",
            ("name", "extra", "installed", "summary"),
            [(e.name, e.extra, e.installed, e.summary) for e in entries],
        )
    for folder, presets in found.presets.items():
        print_table(
            f"{folder[:-1]} presets (--{folder[:-1]} NAME)",
            ("preset", "component", "published row claimed, or what it is for"),
            [(p.name, p.component, p.shown) for p in presets],
        )
    print_table(
        "prompts",
        ("prompt", "version", "summary"),
        [(p.name, p.version, p.summary) for p in found.prompts],
    )
