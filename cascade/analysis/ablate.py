"""Ablation sweeps: a base run config plus named variations, each run as an ordinary run.

A sweep file (YAML, `configs/ablations/`):

    name: demo-caption-quality       # default: the file name
    base: default                    # a run config name or path, or an inline run config
    set: [benchmark.limit=8]         # overrides for the base and every variation
    drop_each_stage: true            # add `drop-<stage>` for every front-end stage
    each_stage_alone: true           # add `only-<stage>` for every front-end stage
    by: [modality, category]         # breakdowns in the results table
    alpha: 0.05                      # level of the paired tests, Bonferroni-corrected
    scorer: strict                   # the scorer of the overview
    variations:
      text-only: {description: none}
      oracle: {description: oracle}
      noise: {audio: noise}
      asr-20: {asr_wer: 0.2, degrade_stages: [whisper]}
      direct: [prompts.answer=mcq_direct]       # a list of --set overrides
      bigger: {set: [reasoner.config.max_tokens=1024]}

Every variation is an ordinary run with its own run directory under the sweep folder and the
same cache, so stage outputs and answers are computed once across the sweep and a re-run of a
finished sweep computes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from cascade.analysis import doses as dosing
from cascade.analysis import sweep_table
from cascade.core import CascadeError, ConfigError, ExitCode, Strict
from cascade.run import RunConfig, SweepDir, rescore, run_directory
from cascade.run import config as configs
from cascade.scoring import PAIRED_ALPHA

BASE = "base"
GROUPS = ("modality", "category", "sub-category", "language")


class VariationSpec(Strict):
    """One variation: shorthands, then `set` overrides (any config key)."""

    set: list[str] = Field(default_factory=list)
    """`key=value` overrides, as with `cascade run --set`."""
    drop_stage: str | list[str] | None = None
    """Leave out these front-end stages (by label)."""
    only_stage: str | list[str] | None = None
    """Keep only these front-end stages (by label)."""
    truncate_words: int | None = Field(default=None, ge=0)
    word_dropout: float | None = Field(default=None, ge=0, lt=1)
    asr_wer: float | None = Field(default=None, ge=0, le=1)
    degrade_stages: list[str] | None = None
    """Stages the degradations apply to (default: all)."""
    audio: Literal["noise", "silence", "shuffle"] | None = None
    snr_db: float | None = None
    """Mix seeded white noise into each item's own clip at this SNR (dB)."""
    description: Literal["none", "oracle", "oracle_cues"] | None = None
    """`none`: no front-end at all (the text-only prior); `oracle`: the benchmark's annotations
    (cues and reference reasoning); `oracle_cues`: the annotated cues only."""
    seed: int | None = None
    """Seed of the audio substitution and of the degradations."""


DOSE_KEYS = {
    "description.word_dropout": "share of the description's words dropped",
    "description.asr_wer": "simulated ASR word error rate",
    "description.truncate_words": "words of the description kept",
    "audio.snr_db": "SNR of the noise mixed into the clip (dB)",
}
"""The degradations a dose can vary, and what their level means (the chart's axis)."""


class DoseSpec(Strict):
    """One degradation at a list of levels: a variation `<name>=<level>` per level."""

    name: str = Field(min_length=1)
    key: str
    """The config key the levels set (one of `DOSE_KEYS`)."""
    levels: list[float]
    """In the order the table and the chart show them."""
    set: list[str] = Field(default_factory=list)
    """More `key=value` overrides for every level, e.g. `description.degrade_stages=[whisper]`."""

    @field_validator("key")
    @classmethod
    def _known_key(cls, key: str) -> str:
        if key not in DOSE_KEYS:
            raise ValueError(
                f"{key!r} is not a degradation with levels; use one of {list(DOSE_KEYS)}"
            )
        return key

    @field_validator("levels")
    @classmethod
    def _distinct(cls, levels: list[float]) -> list[float]:
        if not levels:
            raise ValueError("a dose needs at least one level, e.g. levels: [0.0, 0.3, 0.6]")
        if len(set(levels)) != len(levels):
            raise ValueError(f"levels {levels} repeat a level")
        return levels

    @model_validator(mode="after")
    def _whole_words(self) -> DoseSpec:
        if self.key == "description.truncate_words" and any(v != int(v) for v in self.levels):
            raise ValueError(f"{self.key} levels are word counts (whole numbers): {self.levels}")
        return self

    def value(self, level: float) -> float | int:
        """The config value of a level (word counts as integers)."""
        return int(level) if self.key == "description.truncate_words" else level

    def variation(self, level: float) -> str:
        return f"{self.name}={format_level(level)}"


def format_level(level: float) -> str:
    """A level as written in variation names and tables: 0.3, 20, -5."""
    return f"{level:g}"


class SweepSpec(Strict):
    """A sweep file."""

    name: str | None = None
    base: str | dict[str, Any] = "default"
    set: list[str] = Field(default_factory=list)
    variations: dict[str, VariationSpec | list[str]] = Field(default_factory=dict)
    doses: list[DoseSpec] = Field(default_factory=list)
    """Degradations at several levels, each level a variation (after the listed ones)."""
    drop_each_stage: bool = False
    each_stage_alone: bool = False
    by: list[Literal["modality", "category", "sub-category", "language"]] = Field(
        default_factory=list
    )
    alpha: float = Field(default=PAIRED_ALPHA, gt=0, lt=1)
    """Level of the paired tests against the base, before the Bonferroni correction (the same
    test and default as `cascade compare`: `stats.paired_test`, `stats.PAIRED_ALPHA`)."""
    scorer: Literal["official", "strict", "lenient"] = "strict"
    """The scorer of the overview (terminal, top of table.md, the HTML report's first view);
    the full table always has all three."""
    output_dir: Path | None = None
    """Sweep folder (default: <base run.output_dir>/ablations/<name>)."""


@dataclass(frozen=True)
class Variation:
    """One expanded variation: its name and its resolved run config."""

    name: str
    config: RunConfig


@dataclass(frozen=True)
class Sweep:
    name: str
    spec: SweepSpec
    folder: Path
    variations: tuple[Variation, ...]
    """The base first, then the variations in file order (automatic ones first)."""

    @property
    def files(self) -> SweepDir:
        """The owner of the sweep folder's files."""
        return SweepDir(self.folder)


def find_sweep(name_or_path: str) -> Path:
    path = configs.find_config(name_or_path, "ablations")
    if path is None:
        shipped = sorted(configs.presets("ablations"))
        raise ConfigError(f"no sweep {name_or_path!r}; shipped sweeps: {', '.join(shipped)}")
    return path


def load_sweep(
    name_or_path: str,
    *,
    overrides: tuple[str, ...] = (),
    output: Path | None = None,
    by: list[str] | None = None,
) -> Sweep:
    """Read a sweep file and expand it into run configs (nothing is loaded or run).

    `by`, when given, replaces the file's breakdowns of the results table.
    """
    path = find_sweep(name_or_path)
    data = configs.read_yaml(path, "sweep")
    if by is not None:
        data["by"] = by
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as error:
        problems = "\n  ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"invalid sweep ({path}):\n  {problems}") from None
    return expand(spec, name=spec.name or path.stem, overrides=overrides, output=output)


def _base_data(base: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(base, str):
        return configs.load_data(base)[0]
    return configs.expand_presets(copy.deepcopy(dict(base)))


def _labels(data: Mapping[str, Any]) -> list[str]:
    return [str(c.get("label") or c.get("name")) for c in data.get("captioners") or []]


def _pick(data: dict[str, Any], labels: str | list[str], keep: bool, variation: str) -> None:
    wanted = [labels] if isinstance(labels, str) else list(labels)
    known = _labels(data)
    if unknown := [w for w in wanted if w not in known]:
        raise ConfigError(
            f"variation {variation!r}: no front-end stage {unknown} in the base; stages: {known}"
        )
    data["captioners"] = [
        c
        for c, label in zip(data.get("captioners") or [], known, strict=True)
        if (label in wanted) == keep
    ]


def apply_variation(data: dict[str, Any], spec: VariationSpec, name: str) -> dict[str, Any]:
    """The base config data with one variation's shorthands and overrides applied."""
    out = copy.deepcopy(data)
    if spec.drop_stage is not None:
        _pick(out, spec.drop_stage, False, name)
    if spec.only_stage is not None:
        _pick(out, spec.only_stage, True, name)
    description: dict[str, Any] = out.setdefault("description", {})
    audio: dict[str, Any] = out.setdefault("audio", {})
    for key in ("truncate_words", "word_dropout", "asr_wer", "degrade_stages"):
        value = getattr(spec, key)
        if value is not None:
            description[key] = value
    if spec.description is not None:
        out["captioners"] = []
        if spec.description != "none":
            description["source"] = "oracle"
            description["oracle_template"] = spec.description
    if spec.audio is not None:
        audio["replace"] = spec.audio
    if spec.snr_db is not None:
        audio["snr_db"] = spec.snr_db
    if spec.seed is not None:
        audio["seed"] = description["seed"] = spec.seed
    configs.apply_overrides(out, spec.set)
    return out


def automatic(data: Mapping[str, Any], spec: SweepSpec) -> dict[str, VariationSpec]:
    """Each front-end stage left out in turn, and each alone, when the sweep asks for them."""
    labels = _labels(data)
    found: dict[str, VariationSpec] = {}
    if spec.drop_each_stage:
        found |= {f"drop-{label}": VariationSpec(drop_stage=label) for label in labels}
    # One stage alone is the base itself; of two stages, one alone is the other dropped.
    if spec.each_stage_alone and (
        len(labels) > 2 or (len(labels) == 2 and not spec.drop_each_stage)
    ):
        found |= {f"only-{label}": VariationSpec(only_stage=label) for label in labels}
    return found


def expand(
    spec: SweepSpec,
    *,
    name: str,
    overrides: tuple[str, ...] = (),
    output: Path | None = None,
) -> Sweep:
    """The sweep's run configs: the base, then each variation, all validated."""
    base = _base_data(spec.base)
    configs.apply_overrides(base, [*spec.set, *overrides])
    run_section = base.get("run") or {}
    base_output = Path(run_section.get("output_dir") or "runs")
    folder = output or spec.output_dir or base_output / "ablations" / name
    listed = {
        key: value if isinstance(value, VariationSpec) else VariationSpec(set=list(value))
        for key, value in spec.variations.items()
    }
    named = {BASE: VariationSpec(), **automatic(base, spec), **listed}
    levels: dict[str, tuple[str, float | int]] = {}
    for dose in spec.doses:
        for level in dose.levels:
            variation = dose.variation(level)
            if variation in named:
                raise ConfigError(
                    f"sweep {name}: dose {dose.name!r} makes a variation {variation!r}, a name the "
                    "sweep already has; rename the dose or that variation"
                )
            named[variation] = VariationSpec(set=dose.set)
            levels[variation] = (dose.key, dose.value(level))
    variations = []
    for variation, shorthand in named.items():
        data = apply_variation(base, shorthand, variation)
        if variation in levels:
            configs.set_key(data, *levels[variation])
        data["name"] = f"{name}-{variation}"
        data.setdefault("run", {})["output_dir"] = str(SweepDir(folder).runs_folder)
        data["run"]["run_dir"] = None
        try:
            resolved = configs.validate(data, source=f"sweep {name}, variation {variation}")
        except ConfigError as error:
            raise ConfigError(f"variation {variation!r}: {error}") from None
        variations.append(Variation(variation, resolved))
    return Sweep(name, spec, folder, tuple(variations))


@dataclass
class Outcome:
    """How one variation's run went in this invocation."""

    variation: str
    run_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    exit_code: int = ExitCode.OK
    """The exit code of the variation's run: that of its error, 3 with unanswered items."""


Runner = Callable[[Variation], dict[str, Any]]
"""Runs one variation and returns its run summary (summary.json's content)."""
AllRunner = Callable[[Sequence[Variation]], Sequence[dict[str, Any] | CascadeError]]
"""Runs every variation together and returns, for each, its run summary or its error."""


def run_sweep(sweep: Sweep, run: Runner) -> list[Outcome]:
    """Run every variation in order; a failing variation is recorded and the sweep goes on."""

    outcomes = []
    for variation in sweep.variations:
        try:
            ended: dict[str, Any] | CascadeError = run(variation)
        except CascadeError as error:
            ended = error
        outcomes.append(outcome(variation, ended))
    return outcomes


def run_sweep_together(sweep: Sweep, run_all: AllRunner) -> list[Outcome]:
    """Run every variation at once (`run.executor: ray`: the front-end computed once for all,
    one reasoner pool for every variation's requests); failing variations are recorded."""
    return [
        outcome(v, ended)
        for v, ended in zip(sweep.variations, run_all(sweep.variations), strict=True)
    ]


def outcome(variation: Variation, ended: dict[str, Any] | CascadeError) -> Outcome:
    """A variation's outcome from its run summary (summary.json's content) or its error."""
    result = Outcome(variation.name, run_directory(variation.config))
    if isinstance(ended, CascadeError):
        result.error, result.exit_code = str(ended), ended.exit_code
    else:
        result.summary = ended
        if ended.get("unanswered"):
            result.exit_code = ExitCode.FAILED_ITEMS
    return result


SEVERITY = (ExitCode.ERROR, ExitCode.STOPPED, ExitCode.FAILED_ITEMS)
"""The sweep's exit code is its variations' most serious one, in this order."""


def problems(outcomes: list[Outcome]) -> list[str]:
    """One line per variation that failed, stopped, or left items without an answer."""
    lines = []
    for o in outcomes:
        if o.error is not None:
            lines.append(f"variation {o.variation} failed: {o.error}")
        elif o.exit_code == ExitCode.FAILED_ITEMS:
            lines.append(
                f"variation {o.variation}: {o.summary.get('unanswered')} of "
                f"{o.summary.get('total')} items have no answer (first errors: "
                f"{o.summary.get('first_errors')}); run the sweep again to retry them"
            )
    return lines


def exit_code(outcomes: list[Outcome]) -> int:
    """0 when every variation answered every item, else the most serious variation's code."""
    codes = {o.exit_code for o in outcomes}
    return next((code for code in SEVERITY if code in codes), ExitCode.OK)


@dataclass(frozen=True)
class SweepResults:
    """The tables of a finished sweep, as written to its folder."""

    table: Any
    """The long results table (pandas DataFrame)."""
    flips: dict[str, Any]
    summaries: dict[str, dict[str, Any]]
    markdown: str
    text_only: list[str]
    """The variations whose reasoner read no front-end output (their flips are marked)."""
    doses: Any = None
    """The dose-response table (`doses.dose_table`), when the sweep has doses."""


def finish(sweep: Sweep, outcomes: list[Outcome]) -> SweepResults:
    """Score every finished variation against the base and write the sweep's tables.

    Raises:
        CascadeError: when the base run did not finish (there is nothing to compare with).
    """

    base = outcomes[0]
    if base.error is not None:
        raise CascadeError(f"sweep {sweep.name}: the base run failed: {base.error}")
    runs = [(o.variation, rescore.from_run(o.run_dir)) for o in outcomes if o.error is None]
    scoring = sweep.variations[0].config.scoring
    table = sweep_table.sweep_table(runs, scoring=scoring, alpha=sweep.spec.alpha, by=sweep.spec.by)
    found = sweep_table.flips(runs)
    summaries = {o.variation: {**o.summary, "error": o.error} for o in outcomes}
    text_only = [
        v.name
        for v in sweep.variations
        if not v.config.captioners and v.config.description.source == "frontend"
    ]
    markdown = sweep_table.render_markdown(
        sweep.name,
        table,
        found,
        summaries,
        alpha=sweep.spec.alpha,
        text_only=text_only,
        scorer=sweep.spec.scorer,
    )
    notices = sorted({n for o in outcomes for n in o.summary.get("notices") or []})
    markdown = "".join(f"> **{notice}**\n\n" for notice in notices) + markdown
    files = sweep.files
    doses = None
    if sweep.spec.doses:
        run_dirs = {o.variation: o.run_dir for o in outcomes if o.error is None}
        doses = dosing.dose_table(sweep.spec.doses, table, run_dirs)
        markdown += dosing.render_markdown(doses, DOSE_KEYS, sweep.spec.scorer)
        files.write_doses(
            doses.to_csv(index=False), dosing.to_json(sweep.spec.doses, doses, DOSE_KEYS)
        )
    files.write_tables(table.to_csv(index=False), markdown, found)
    record = {
        "name": sweep.name,
        "alpha": sweep.spec.alpha,
        "by": list(sweep.spec.by),
        "variations": [
            {
                "name": v.name,
                "run_dir": str(o.run_dir),
                "fingerprint": v.config.fingerprint(),
                "error": o.error,
                "summary": o.summary,
            }
            for v, o in zip(sweep.variations, outcomes, strict=True)
        ],
    }
    files.write_record(record)
    return SweepResults(table, found, summaries, markdown, text_only, doses)
