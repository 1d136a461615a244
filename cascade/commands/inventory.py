"""`cascade list` and `cascade cache ls`: what is registered and installed, and what is cached."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from cascade.core import Cache, RegistryError, prompts, registry
from cascade.core.cache import NamespaceUsage
from cascade.run import config as run_configs


@dataclass(frozen=True)
class Registered:
    name: str
    extra: str
    installed: str
    """"yes", or what is missing: "no: vllm", "no (its package cannot be imported)"."""
    summary: str


@dataclass(frozen=True)
class Preset:
    name: str
    component: str
    shown: str
    """The published row it claims, or what it is for."""


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    summary: str


@dataclass(frozen=True)
class Inventory:
    registered: dict[str, list[Registered]]
    """Per registry table (captioner, reasoner, benchmark, executor)."""
    presets: dict[str, list[Preset]]
    """Per preset folder (captioners, reasoners)."""
    prompts: list[Prompt]


def inventory() -> Inventory:
    """Registered captioners, reasoners, benchmarks and executors (with their extra and whether
    it is installed), the component presets and the prompt templates."""
    table: registry.Table
    registered: dict[str, list[Registered]] = {}
    for table in get_args(registry.Table):
        rows = []
        for name in registry.names(table):
            extra, installed = _extra_status(table, name)
            rows.append(Registered(name, extra, installed, registry.entry(table, name).summary))
        registered[table] = rows
    presets = {}
    for folder in ("captioners", "reasoners"):
        found = []
        for name, path in run_configs.presets(folder).items():
            spec = run_configs.component_spec(str(path), folder)
            claim = spec.get("claim") or {}
            shown = f"claims {claim['row']}" if claim else spec.get("note") or ""
            found.append(Preset(name, str(spec.get("name")), str(shown)))
        presets[folder] = found
    listed = []
    for name in prompts.available():
        template = prompts.load(name)
        listed.append(Prompt(name, str(template.version), template.summary))
    return Inventory(registered, presets, listed)


def _extra_status(table: registry.Table, name: str) -> tuple[str, str]:
    """The entry's extra and whether the modules it needs are importable."""
    try:
        obj = registry.resolve(table, name)
    except ImportError as error:
        return "?", f"no ({error.name})"
    except RegistryError as error:  # a package's entry that cannot be imported (`run` says why)
        missing = getattr(error.__cause__, "name", None)
        return "?", f"no ({missing or 'its package cannot be imported'})"
    extra = getattr(obj, "extra", None) or "-"
    missing = [m for m in getattr(obj, "requires", ()) if importlib.util.find_spec(m) is None]
    return extra, ("no: " + ", ".join(missing)) if missing else "yes"


def executors() -> list[str]:
    """The names of the registered executors (local, ray, a package's own)."""
    return registry.names("executor")


@dataclass(frozen=True)
class CacheUsage:
    root: Path
    namespaces: list[NamespaceUsage]


def cache_usage(cache_dir: Path | None = None) -> CacheUsage:
    """Entries and bytes per namespace of the cache at `cache_dir` (default: $CASCADE_CACHE)."""
    cache = Cache(cache_dir)
    return CacheUsage(cache.root, list(cache.usage()))
