"""Run configs: YAML files in `configs/` plus command-line overrides, validated by pydantic.

Resolution order: the named run config (default `default`), then `--captioner`/`--reasoner`/
`--benchmark`/`--limit` shortcuts (a `--reasoner` preset that claims a published row also sets
the prompts that row needs), then `--set key=value` overrides. A component name given on the
command line is a preset from `configs/captioners/` or `configs/reasoners/` when one exists, else a
registered component with its default config. Unknown keys anywhere are errors.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from cascade.core import (
    BenchmarkSpec,
    CascadeError,
    ConfigError,
    RegistryError,
    Strict,
    check_env_names,
    digest,
    prices,
    prompts,
    read_yaml_mapping,
    registry,
    shipped_dir,
    tools,
)
from cascade.scoring import ScoringSpec


class Claim(Strict):
    """A published result, and every setting of a run that the result depends on.

    A preset or run config that reproduces a paper's row carries one. The claim holds for a
    resolved run only while every required setting has its required value (`cascade.run.claims`);
    otherwise the plan and the reports say which settings differ instead of naming the row.
    """

    row: str
    """The published result, e.g. "MMAR (arXiv 2505.13032), cascade table: Caption + DeepSeek-R1,
    55.50% avg"."""
    requires: dict[str, Any] = Field(default_factory=dict)
    """Setting (a dotted `--set` key) -> its required value. `captioners` takes a list of
    captioner preset names: the run's front-end must be exactly those presets' components and
    configs. Settings under `prompts.` are applied by `--reasoner NAME` when the preset claims a
    row (a later `--set` still wins, and then drops the claim). Besides these, a claim always
    requires the whole benchmark and no ablation (`cascade.run.claims.IMPLIED`)."""
    assumes: str = ""
    """What the publication leaves unstated and the claim assumes (said wherever it is shown)."""

    @model_validator(mode="after")
    def _captioners_are_preset_names(self) -> Claim:
        captioners = self.requires.get("captioners")
        if captioners is not None and not (
            isinstance(captioners, list) and all(isinstance(c, str) for c in captioners)
        ):
            raise ValueError("claim.requires.captioners must be a list of captioner preset names")
        return self


RUN_LEVEL_CLAIM_SETTINGS = ("prompts.",)
"""Claimed settings that naming a reasoner preset with `--reasoner` applies to the run."""


class ComponentSpec(Strict):
    """A component by registered name, with its output-affecting config and its runtime options."""

    name: str
    """A registered captioner or reasoner (`cascade list`)."""
    label: str | None = None
    """The stage's name in descriptions and results (defaults to `name`); lets one component run
    twice with different configs."""
    config: dict[str, Any] = Field(default_factory=dict)
    """What the component computes (model, prompt, sampling...): part of every cache key."""
    runtime: dict[str, Any] = Field(default_factory=dict)
    """How it runs (device, batch size, concurrency...): never part of a cache key."""
    preset: str | None = None
    """The preset this spec came from, if any (for reports)."""
    note: str | None = None
    """What the preset is for, when it claims no published row (for `cascade list`)."""
    claim: Claim | None = None
    """The published row this preset reproduces, with the settings it depends on."""
    fallback_from: str | None = None
    """The preset asked for, when its component is not installed here and the preset named in its
    `fallback` ran instead (said in the plan and every report; not part of the run's hash, which
    covers what did run)."""

    @property
    def stage(self) -> str:
        return self.label or self.name


class PromptSpec(Strict):
    description: str = "description"
    """Template that composes the stage outputs into one description."""
    answer: str = "mcq_cot"
    """Template of the answering prompt (question, choices, description)."""


class RunSpec(Strict):
    output_dir: Path = Path("runs")
    """Where run directories are made (one per resolved config)."""
    run_dir: Path | None = None
    """An explicit run directory (default: output_dir/<config name>-<config hash>)."""
    batch_size: int = Field(default=16, ge=1)
    """Items per pipeline batch (each stage and the reasoner see this many at a time)."""
    max_failure_rate: float = Field(default=0.2, ge=0, le=1)
    """Stop the run when more than this fraction of the processed items failed."""
    min_items_for_failure_rate: int = Field(default=10, ge=1)
    """Processed items before the failure-rate limit applies."""
    schedule: Literal["overlap", "sequential", "frontend-first"] = "overlap"
    """`overlap`: the front-end of the next batch runs while the reasoner answers the current
    one. `sequential`: one after the other, batch by batch. `frontend-first`: the front-end over
    every item, its models released, then the reasoner (when both would not fit in memory
    together, e.g. two vLLM engines on one GPU). Under `executor: ray` the front-end always
    runs first, as its own pass."""
    executor: str = "local"
    """A registered executor (`cascade list`; `cascade.run.executor`). `local`: this process
    runs every stage. `ray`: the stages run as Ray Data jobs on a Ray cluster
    (`cascade.run.distributed`), each component in its own actor pool sized by its
    `runtime.ray` settings; the driver (this process) writes the same run directory. A runtime
    choice: never part of the run's fingerprint or of any cache key."""

    @field_validator("executor")
    @classmethod
    def _registered_executor(cls, name: str) -> str:
        try:
            registry.entry("executor", name)
        except RegistryError as error:  # its "did you mean", under the key's name
            raise ValueError(str(error)) from None
        return name

    ray_address: str | None = None
    """The Ray cluster to join under `executor: ray` (`auto`, or `ray://head:10001`); default:
    the cluster in RAY_ADDRESS if set, else a local one started for the run."""
    max_cost: float | None = Field(default=None, ge=0)
    """US dollars: refuse to start when the plan's worst case costs more (needs a price: the
    table's, `price` or `prices_file`), and stop the run, keeping what was done, once the
    answers it computed cost this much (`cascade run --max-cost`). None: no limit."""
    price: str | None = None
    """The reasoner's price, `INPUT,OUTPUT[,CACHED_INPUT]` dollars per million tokens, over
    the price table's (`cascade/data/prices.yaml`)."""
    prices_file: Path | None = None
    """A price table of your own in the shipped table's format; its entries win."""

    @field_validator("price")
    @classmethod
    def _a_price(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                prices.parse("the reasoner", text, "run.price")
            except CascadeError as error:
                raise ValueError(str(error)) from None
        return text

    samples: int = Field(default=1, ge=1)
    """Answers per item: the reasoner answers each item this many times (sample i is its own
    cache entry, seeded seed + i), from one front-end pass. Above 1 the reasoner must sample
    (a temperature above 0, or `null` for a server's own default): greedy decoding would give
    k identical answers. Results hold one line per (item, sample); predictions.json holds each
    item's majority-vote answer (`cascade.scoring.samples`)."""


SAMPLING_EXEMPT = ("scripted",)
"""Reasoners that may be asked for repeated samples without a temperature (test doubles that
answer per sample from their script)."""


class AudioSpec(Strict):
    """What the front-end hears: the item's own audio, or a substitute (an ablation)."""

    replace: Literal["none", "noise", "silence", "shuffle"] = "none"
    """`none`: the item's clip. `noise` / `silence`: a generated clip of the same length (white
    noise, or digital silence), written once under `<cache>/synthetic/`. `shuffle`: another item's
    clip (a seeded derangement of the run's items), so each item is described by another's audio
    (a captioner conditioned on the question hears the other clip with this item's question; an
    oracle description takes the other item's annotations)."""
    snr_db: float | None = None
    """Mix seeded white noise into the item's own clip at this signal-to-noise ratio (dB): the
    front-end hears the mixture, written once under `<cache>/synthetic/snr/`. Only with
    `replace: none`."""
    seed: int = 0
    """Seed of the noise (substitute or mixed in) and of the shuffle."""

    @model_validator(mode="after")
    def _snr_mixes_the_own_clip(self) -> AudioSpec:
        if self.snr_db is not None and self.replace != "none":
            raise ValueError(
                f"audio.snr_db mixes noise into the item's own clip; with "
                f"audio.replace={self.replace} there is none: leave one of them out"
            )
        return self


class DescriptionSpec(Strict):
    """Where the description comes from, and how it is degraded (ablations of caption quality).

    Degradations apply to what each part of the description says (stage texts, or the oracle's
    fields), never to its labels or transcript quoting, in this order: truncation, word dropout,
    simulated ASR errors. Each is seeded per item and part, so a run is reproducible.
    """

    source: Literal["frontend", "oracle"] = "frontend"
    """`frontend`: the captioners' outputs. `oracle`: the benchmark's own annotations (MMAR `cue`
    and `thinking`) rendered by `oracle_template`, with no front-end at all (an upper bound)."""
    oracle_template: str = "oracle"
    """Template of the oracle description (`oracle`: cues and reference reasoning;
    `oracle_cues`: cues only)."""
    truncate_words: int | None = Field(default=None, ge=0)
    """Keep only the first N words of the description's content (parts in stage order)."""
    word_dropout: float = Field(default=0.0, ge=0, lt=1)
    """Drop each word independently with this probability."""
    asr_wer: float = Field(default=0.0, ge=0, le=1)
    """Simulated recognition errors at this word error rate (substitutions, deletions and
    insertions at exactly round(rate * words) positions)."""
    degrade_stages: list[str] = Field(default_factory=list)
    """Stage labels (or `cue`, `thinking` for the oracle) the degradations apply to; empty: all."""
    seed: int = 0
    """Seed of the dropout and of the simulated errors."""


class AgentSpec(Strict):
    """An agent run: the reasoner may call front-end components as tools (`cascade.run.agent`)
    until it answers or its step budget ends. Absent: the one-way cascade, unchanged."""

    tools: list[ComponentSpec] = Field(min_length=1)
    """The components the reasoner may call, by captioner preset or registered name, as
    `captioners` takes them (`[whisper, audioset, signal, qwen-audio-ask]`). Each kind is one
    tool: asr transcribes a window, tags tag one, signal measures one, a question-conditioned
    captioner answers a free-form question. A tool is named for its kind (`transcribe`,
    `tag_sounds`, `measure_signal`, `ask_audio`, `describe_audio`), or by the spec's `label`."""
    max_steps: int = Field(default=6, ge=1, le=100)
    """Model turns per item (a turn may call several tools). A model still calling tools at the
    last turn ends the item as INVALID (outcome `budget`), never with a guess."""
    sees: Literal["question", "description"] = "question"
    """What the reasoner sees first: only the question (and the clip's duration), or also the
    static description the run's `captioners` make, as a one-way run shows it."""
    protocol: Literal["auto", "native", "text"] = "auto"
    """How calls are made: `native` (the reasoner's own tool calling: the `openai` reasoner, the
    `vllm` reasoner with its model's tool-call parser), `text` (tools described in the prompt,
    calls written as `CALL name {json}` lines: any model), `auto` (native where the reasoner
    has it)."""
    tool_timeout_s: float = Field(default=300.0, gt=0)
    """A tool call that takes longer comes back to the model as a tool error."""
    calls_per_step: int = Field(default=4, ge=1)
    """Calls the model may make in one turn; more are answered with a tool error."""


class RunConfig(Strict):
    """Everything a run depends on. Its hash names the run directory."""

    name: str = "default"
    benchmark: BenchmarkSpec = Field(default_factory=BenchmarkSpec)
    captioners: list[ComponentSpec] = Field(default_factory=list)
    reasoner: ComponentSpec
    """The reasoner, always named: there is no default (a test double never runs unless named)."""
    prompts: PromptSpec = Field(default_factory=PromptSpec)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    run: RunSpec = Field(default_factory=RunSpec)
    audio: AudioSpec = Field(default_factory=AudioSpec)
    """Audio substitution for ablations (default: the items' own clips)."""
    description: DescriptionSpec = Field(default_factory=DescriptionSpec)
    """Description source and degradations for ablations (default: the front-end, untouched)."""
    cache_dir: Path | None = None
    """Content-addressed cache (default: $CASCADE_CACHE or ~/.cache/cascade)."""
    claim: Claim | None = None
    """The published row this run config reproduces (default: the reasoner preset's claim)."""
    agent: AgentSpec | None = None
    """An agent run: the reasoner calls front-end components as tools (default: none, the
    one-way cascade)."""

    @model_validator(mode="after")
    def _agent_sees_what_it_has(self) -> RunConfig:
        if self.agent is None:
            return self
        if self.agent.sees == "description" and not self.captioners:
            raise ValueError(
                "agent.sees=description shows the static description of the run's captioners, "
                "but captioners is empty: name some, or set agent.sees=question"
            )
        if self.agent.sees == "question" and self.captioners:
            raise ValueError(
                "agent.sees=question shows the reasoner no description, so the run's captioners "
                "would run for nothing: set captioners to [] (--set 'captioners=[]') or set "
                "agent.sees=description"
            )
        if self.description.source == "oracle":
            raise ValueError("an agent run has no oracle description: drop description.source")
        return self

    @model_validator(mode="after")
    def _oracle_has_no_frontend(self) -> RunConfig:
        if self.description.source == "oracle" and self.captioners:
            raise ValueError(
                "description.source=oracle uses no front-end: also set captioners to [] "
                "(--set 'captioners=[]')"
            )
        return self

    @model_validator(mode="after")
    def _samples_need_sampling(self) -> RunConfig:
        if self.run.samples == 1 or self.reasoner.name in SAMPLING_EXEMPT:
            return self
        config = registry.resolve("reasoner", self.reasoner.name).Config.model_validate(
            self.reasoner.config
        )
        if not hasattr(config, "temperature") or config.temperature == 0:
            found = "no temperature" if not hasattr(config, "temperature") else "temperature 0"
            raise ValueError(
                f"run.samples={self.run.samples} needs a sampling reasoner, but reasoner "
                f"{self.reasoner.preset or self.reasoner.stage!r} has {found} (greedy decoding "
                f"gives {self.run.samples} "
                "identical answers): set one, e.g. --set reasoner.config.temperature=0.7, or "
                "set run.samples=1"
            )
        return self

    def fingerprint(self) -> str:
        """Hash of what determines the result lines: not where they are written, how they are
        computed (batching, runtime options) or scored (metrics are recomputed at every finish).
        The number of samples per item is the one `run` setting in it, and only above 1, so
        that a sampled run never shares a directory with a single-answer run (or one with
        another k) while every k=1 run keeps its directory.

        It covers the components' versions and the prompts' text, so that resuming after either
        changed starts a new run directory instead of mixing old and new results. Ablation
        sections left at their defaults are left out, so ordinary runs keep their directories.
        """
        data = self.model_dump(mode="json", exclude={"run", "scoring", "cache_dir", "claim"})
        for section, default in (("audio", AudioSpec()), ("description", DescriptionSpec())):
            if data[section] == default.model_dump(mode="json"):
                data.pop(section)
        agent = data.pop("agent")
        for spec in [*data["captioners"], data["reasoner"], *(agent or {}).get("tools", ())]:
            for descriptive in ("runtime", "note", "claim", "fallback_from"):
                spec.pop(descriptive, None)
        if agent is not None and self.agent is not None:
            agent.pop("tool_timeout_s")  # how long to wait, not what is computed
            data["agent"] = agent | {"protocol_digest": agent_protocol_digest(self)}
        components: list[tuple[registry.Table, ComponentSpec]] = [
            *(("captioner", c) for c in self.captioners),
            ("reasoner", self.reasoner),
        ]
        if self.run.samples != 1:
            data["samples"] = self.run.samples
        data["versions"] = [registry.resolve(t, spec.name).version for t, spec in components]
        data["prompt_texts"] = [
            prompts.load(name).digest for name in (self.prompts.description, self.prompts.answer)
        ]
        return digest(data)[:12]


AGENT_PROMPTS = {"native": "agent", "text": "agent_text"}
"""The agent's prompt template under each action protocol (`prompts/`)."""


def agent_protocol(config: RunConfig) -> Literal["native", "text"]:
    """The action protocol an agent run uses: native tool calling where asked or (`auto`) where
    its reasoner has it, else the text protocol."""
    assert config.agent is not None
    if config.agent.protocol != "auto":
        return config.agent.protocol
    reasoner = registry.resolve("reasoner", config.reasoner.name)
    return "native" if reasoner.calls_tools(config.reasoner.config) else "text"


def agent_protocol_digest(config: RunConfig) -> str:
    """What the fingerprint of an agent run adds: the protocol, its prompt's text and the tool
    schemas' version (a schema's text follows from its component's kind and the label)."""
    protocol = agent_protocol(config)
    kinds = [registry.resolve("captioner", t.name).kind for t in config.agent.tools]  # type: ignore[union-attr]
    return digest(
        {
            "protocol": protocol,
            "prompt": prompts.load(AGENT_PROMPTS[protocol]).digest,
            "schemas": tools.SCHEMA_VERSION,
            "kinds": kinds,
        }
    )


def configs_dir() -> Path:
    return shipped_dir("configs")


def read_yaml(path: Path, kind: str = "config") -> dict[str, Any]:
    """A config file (`kind`: run config, preset, sweep) as data; any file that is not UTF-8
    YAML with a mapping at the top is a ConfigError naming it."""
    return read_yaml_mapping(path, kind=kind)


def find_config(name_or_path: str, folder: str = "") -> Path | None:
    """A config by path, or by name under `configs/<folder>`."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    candidate = configs_dir() / folder / f"{name_or_path}.yaml"
    return candidate if candidate.is_file() else None


def presets(folder: str) -> dict[str, Path]:
    """Every preset under `configs/<folder>` by name."""
    return {p.stem: p for p in sorted((configs_dir() / folder).glob("*.yaml"))}


def component_spec(name: str, folder: str) -> dict[str, Any]:
    """A `--captioner`/`--reasoner` value: a preset file if one exists, else a registered name.

    A preset may name a `fallback` preset, used instead when the preset's component cannot be
    imported here (e.g. vLLM is not installed). Never silently: the resolved spec records the
    preset asked for in `fallback_from`, which the plan and every report of the run show.
    """
    path = find_config(name, folder)
    if path is None:
        return {"name": name}
    spec = read_yaml(path, f"{FOLDER_TABLES[folder]} preset")
    spec.setdefault("preset", path.stem)
    fallback = spec.pop("fallback", None)
    if fallback is not None and not installed(FOLDER_TABLES[folder], str(spec.get("name"))):
        return {**component_spec(str(fallback), folder), "fallback_from": path.stem}
    return spec


FOLDER_TABLES: dict[str, registry.Table] = {"captioners": "captioner", "reasoners": "reasoner"}


def installed(table: registry.Table, name: str) -> bool:
    """Whether every module the registered component needs can be imported."""
    component = registry.resolve(table, name)
    return all(importlib.util.find_spec(m) is not None for m in getattr(component, "requires", ()))


def parse_value(text: str) -> Any:
    """A `--set` value, read as YAML (numbers, booleans, lists, null) or kept as a string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def set_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` in nested dicts; list elements by index (`captioners.0.runtime.device`)."""
    parts = dotted.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {dotted}: {'.'.join(parts[: i + 1])} is not in the list")
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, dict | list):
            raise ConfigError(f"--set {dotted}: {'.'.join(parts[: i + 1])} is not a section")
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(f"--set {dotted}: index {last} is not in the list")
        node[int(last)] = value
    else:
        node[last] = value


def resolve(
    config: str = "default",
    *,
    captioners: Sequence[str] = (),
    reasoner: str | None = None,
    benchmark: str | None = None,
    limit: int | None = None,
    overrides: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> RunConfig:
    """The run config from a config name or path plus command-line overrides, validated."""
    data, path = load_data(config)
    if captioners:
        data["captioners"] = [component_spec(c, "captioners") for c in captioners]
    if reasoner:
        data["reasoner"] = component_spec(reasoner, "reasoners")
        apply_claimed_settings(data, data["reasoner"].get("claim"))
    if benchmark:
        data.setdefault("benchmark", {})["name"] = benchmark
    if limit is not None:
        data.setdefault("benchmark", {})["limit"] = limit
    for key, value in (extra or {}).items():
        set_key(data, key, value)
    apply_overrides(data, overrides)
    return validate(data, source=str(path))


def apply_claimed_settings(data: dict[str, Any], claim: Any) -> None:
    """Apply the run-level settings a reasoner preset's claimed row depends on (its answer
    prompt...), so that `--reasoner NAME` alone runs the row as published; `--set` overrides are
    applied after, and win."""
    if not isinstance(claim, Mapping):
        return
    for key, value in (claim.get("requires") or {}).items():
        if str(key).startswith(RUN_LEVEL_CLAIM_SETTINGS):
            set_key(data, str(key), value)


def load_data(config: str) -> tuple[dict[str, Any], Path]:
    """A run config by name or path as plain data (presets expanded, not yet validated)."""
    path = find_config(config)
    if path is None:
        names = sorted(p.stem for p in configs_dir().glob("*.yaml"))
        raise ConfigError(f"no run config {config!r}; shipped configs: {', '.join(names)}")
    data = expand_presets(read_yaml(path, "run config"))
    data.setdefault("name", path.stem)
    return data, path


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> None:
    """Apply `key=value` overrides (values read as YAML) to config data, in order."""
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {override!r}")
        set_key(data, key.strip(), parse_value(value))


def expand_presets(data: Mapping[str, Any]) -> dict[str, Any]:
    """Component entries written as a bare name become their preset (or registered name)."""
    expanded = dict(data)
    if isinstance(expanded.get("captioners"), list):
        expanded["captioners"] = [
            component_spec(c, "captioners") if isinstance(c, str) else c
            for c in expanded["captioners"]
        ]
    if isinstance(expanded.get("reasoner"), str):
        expanded["reasoner"] = component_spec(expanded["reasoner"], "reasoners")
    agent = expanded.get("agent")
    if isinstance(agent, Mapping) and isinstance(agent.get("tools"), list):
        expanded["agent"] = {
            **agent,
            "tools": [
                component_spec(t, "captioners") if isinstance(t, str) else t for t in agent["tools"]
            ],
        }
    return expanded


NO_REASONER = (
    "no reasoner is named: add `reasoner: NAME` to the config or pass `--reasoner NAME`, e.g. "
    "`--reasoner smollm2` (the bundled CPU model; `cascade list` shows every preset and backend)"
)


def validate(data: Mapping[str, Any], *, source: str = "config") -> RunConfig:
    """The run config from plain data. A secret given where a variable's name belongs is refused
    first, so that no message, plan or file can repeat it (`cascade.core.env_names`)."""
    expanded = expand_presets(data)
    check_env_names(expanded)
    try:
        return RunConfig.model_validate(expanded)
    except ValidationError as error:
        problems = "\n  ".join(
            NO_REASONER
            if e["loc"] == ("reasoner",) and e["type"] == "missing"
            else _problem(e["loc"], e["msg"])
            for e in error.errors()
        )
        raise ConfigError(f"invalid run config ({source}):\n  {problems}") from None


def _problem(loc: Sequence[int | str], message: str) -> str:
    """One validation problem: the key, and the validator's own words (pydantic's "Value error"
    prefix left out)."""
    where = ".".join(str(p) for p in loc)
    message = message.removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
