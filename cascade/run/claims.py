"""Whether a resolved run reproduces the published row its preset or config claims.

A claim (`config.Claim`) names a row and the settings it depends on. It holds for a run only when
every one of them has its required value, plus the settings any published row needs (the whole
benchmark, no ablation). The plan, the console summary and the reports show the row only when
the claim holds, and otherwise the settings that differ: a run is never labelled with a result it
cannot reproduce.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cascade.core import BenchmarkSpec
from cascade.run.config import (
    AudioSpec,
    Claim,
    ComponentSpec,
    DescriptionSpec,
    RunConfig,
    component_spec,
    find_config,
)

IMPLIED: dict[str, Any] = {
    **{
        f"benchmark.{key}": BenchmarkSpec().model_dump(mode="json")[key]
        for key in ("limit", "ids", "modalities", "categories", "sub_categories")
    },
    "benchmark.skip_missing_audio": False,
    "audio.replace": AudioSpec().replace,
    "agent": None,  # an agent run reproduces no one-way row
    **{
        f"description.{key}": DescriptionSpec().model_dump(mode="json")[key]
        for key in ("source", "truncate_words", "word_dropout", "asr_wer")
    },
}
"""What every published row needs: all of the benchmark's items, each heard and described as
is (a subset, a skipped item, replaced audio or a degraded description is another experiment)."""


@dataclass(frozen=True)
class Difference:
    """A setting whose value in the run is not the one the claimed row depends on."""

    setting: str
    required: Any
    actual: Any

    def to_json(self) -> dict[str, Any]:
        return {"setting": self.setting, "required": self.required, "actual": self.actual}

    def __str__(self) -> str:
        return f"{self.setting} (required {_show(self.required)}, actual {_show(self.actual)})"


@dataclass(frozen=True)
class ClaimStatus:
    """A run's claim: the row, whether it holds, and if not, every setting that differs."""

    row: str
    differences: tuple[Difference, ...]
    assumes: str = ""

    @property
    def holds(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "holds": self.holds,
            "differences": [d.to_json() for d in self.differences],
            "assumes": self.assumes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClaimStatus:
        return cls(
            row=str(data["row"]),
            differences=tuple(
                Difference(d["setting"], d["required"], d["actual"]) for d in data["differences"]
            ),
            assumes=str(data.get("assumes") or ""),
        )


def claim_of(config: RunConfig) -> Claim | None:
    """The claim a run makes: its config's own, else its reasoner preset's."""
    return config.claim or config.reasoner.claim


def evaluate(config: RunConfig) -> ClaimStatus | None:
    """The run's claim and whether it holds (None: the run claims no published row)."""
    claim = claim_of(config)
    if claim is None:
        return None
    data = config.model_dump(mode="json")
    differences = []
    for setting, required in {**IMPLIED, **claim.requires}.items():
        if setting == "captioners":
            actual = [_describe(spec) for spec in config.captioners]
            if not _same_frontend(required, config.captioners):
                differences.append(Difference(setting, list(required), actual))
            continue
        actual = _lookup(data, setting)
        if actual != required:
            differences.append(Difference(setting, required, actual))
    return ClaimStatus(claim.row, tuple(differences), claim.assumes)


def claim_json(config: RunConfig) -> dict[str, Any] | None:
    """The run's claim as summary.json stores it (null: none claimed)."""
    status = evaluate(config)
    return status.to_json() if status is not None else None


def sentence(status: ClaimStatus | None) -> str:
    """One line for the console and the reports."""
    if status is None:
        return "Published row: none claimed by this configuration."
    if status.holds:
        assumed = f" Assumed: {status.assumes}" if status.assumes else ""
        return f"Reproduces: {status.row}.{assumed}"
    differ = "; ".join(str(d) for d in status.differences)
    return (
        f"Does not reproduce {status.row}: the claim is dropped because these settings differ "
        f"from the row's: {differ}."
    )


def stored_sentence(summary: Mapping[str, Any]) -> str | None:
    """The claim line of a run from its summary.json (None: the summary predates claims)."""
    if "claim" not in summary:
        return None
    stored = summary["claim"]
    return sentence(ClaimStatus.from_json(stored) if stored is not None else None)


def _lookup(data: Any, dotted: str) -> Any:
    node = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _preset(name: str) -> ComponentSpec:
    return ComponentSpec.model_validate(component_spec(name, "captioners"))


def _same_frontend(presets: list[str], actual: list[ComponentSpec]) -> bool:
    """Whether the front-end computes what the named presets compute (component and config;
    how it runs is not compared)."""
    wanted = [_preset(name) for name in presets]
    return len(wanted) == len(actual) and all(
        w.name == a.name and w.config == a.config for w, a in zip(wanted, actual, strict=True)
    )


def _describe(spec: ComponentSpec) -> str:
    if spec.preset is None or find_config(spec.preset, "captioners") is None:
        return spec.name
    preset = _preset(spec.preset)
    changed = sorted(
        key
        for key in {*preset.config, *spec.config}
        if preset.config.get(key) != spec.config.get(key)
    )
    if spec.name != preset.name:
        return f"{spec.preset} (component {spec.name})"
    return f"{spec.preset} (config changed: {', '.join(changed)})" if changed else spec.preset


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)
