"""Zero-shot tags from a LAION-CLAP model: each clip scored against label vocabularies kept as data.

A vocabulary is a text file of labels (shipped in `captioners/vocabularies/`, or any file by path)
whose header gives the text prompt each label is put into and its default top-k and threshold.
A label's score is its probability within its vocabulary: the softmax, at the model's own logit
scale, of the cosine similarities between the clip's embedding and every label's prompt embedding.
Music vocabularies are reported only when the coarse `content` vocabulary hears music or singing,
since a softmax always crowns some genre, even for speech.
Long clips are embedded window by window at the model's input length (10 s for LAION-CLAP), so
no random crop makes the tags depend on chance; a fused checkpoint therefore never takes its fusion
branch (which mixes random crops of clips longer than 10 s) and sees every window whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from cascade.core import (
    Captioner,
    ComponentConfig,
    ComponentError,
    ConfigError,
    RuntimeConfig,
    StageInput,
    StageKind,
    StageOutput,
    digest,
    forget,
    load_once,
    read_text,
    require,
)

NAME = "clap"
EXTRA = "clap"
VOCABULARY_DIR = Path(__file__).resolve().parent / "vocabularies"
DEFAULT_TEMPLATE = "This is a sound of {label}."
GATE_VOCABULARY = "content"
"""The shipped vocabulary whose labels gate others (`# requires:`)."""
MIN_WINDOW_S = 1.0
"""A clip's last window shorter than this is dropped when earlier windows cover the clip."""

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Vocabulary:
    """Labels to score a clip against, with how to phrase them and how many to keep."""

    name: str
    labels: tuple[str, ...]
    template: str = DEFAULT_TEMPLATE
    top_k: int = 3
    threshold: float = 0.1
    requires: tuple[str, ...] = ()
    """Labels of the `content` vocabulary that must be heard for this one to apply (a music
    genre means nothing in a clip without music)."""

    @property
    def title(self) -> str:
        return self.name.replace("_", " ")

    def prompts(self, template: str | None = None) -> tuple[str, ...]:
        return tuple((template or self.template).format(label=label) for label in self.labels)


def shipped_vocabularies() -> list[str]:
    """Names of the vocabularies shipped with cascade."""
    return sorted(p.stem for p in VOCABULARY_DIR.glob("*.txt"))


@cache
def load_vocabulary(name_or_path: str) -> Vocabulary:
    """A shipped vocabulary by name, or a vocabulary file by path.

    The file holds one label per line; lines starting with `#` are comments, except
    `# template: ...` (the prompt, with `{label}`), `# top_k: N`, `# threshold: P` and
    `# requires: label, label` (labels of the `content` vocabulary, see `ClapConfig.gate`).
    """
    path = Path(name_or_path)
    if not (path.suffix == ".txt" and path.is_file()):
        path = VOCABULARY_DIR / f"{name_or_path}.txt"
        if not path.is_file():
            raise ConfigError(
                f"no vocabulary named {name_or_path!r}; shipped vocabularies: "
                f"{', '.join(shipped_vocabularies())} (or give the path of a .txt file)"
            )
    settings: dict[str, str] = {}
    labels: list[str] = []
    for line in read_text(path, kind="CLAP vocabulary").splitlines():
        line = line.strip()
        if line.startswith("#"):
            key, colon, value = line.lstrip("# ").partition(":")
            if colon and key in ("template", "top_k", "threshold", "requires"):
                settings[key] = value.strip()
        elif line:
            labels.append(line)
    if not labels:
        raise ConfigError(f"vocabulary file {path} holds no labels")
    if len(set(labels)) != len(labels):
        raise ConfigError(f"vocabulary file {path} repeats a label")
    template = settings.get("template", DEFAULT_TEMPLATE)
    if "{label}" not in template:
        raise ConfigError(f"vocabulary file {path}: the template needs a {{label}} placeholder")
    try:
        return Vocabulary(
            name=path.stem,
            labels=tuple(labels),
            template=template,
            top_k=int(settings.get("top_k", 3)),
            threshold=float(settings.get("threshold", 0.1)),
            requires=tuple(
                label.strip() for label in settings.get("requires", "").split(",") if label.strip()
            ),
        )
    except ValueError as error:
        raise ConfigError(f"vocabulary file {path}: {error}") from None


class TagLimits(BaseModel):
    """How many tags of one vocabulary to report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_k: int | None = Field(default=None, gt=0)
    """At most this many labels (None: the vocabulary file's default)."""
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """Only labels whose probability within the vocabulary reaches this (None: the file's)."""


class ClapConfig(ComponentConfig):
    model: str = "laion/clap-htsat-unfused"
    """Hugging Face hub id or local folder of a CLAP checkpoint in transformers' format, e.g.
    laion/clap-htsat-unfused, laion/clap-htsat-fused, laion/larger_clap_music,
    laion/larger_clap_music_and_speech, laion/larger_clap_general."""
    revision: str | None = None
    """Hub revision (branch, tag or commit); None for the default branch."""
    vocabularies: tuple[str, ...] = (
        "sound_events",
        "music_genres",
        "instruments",
        "moods",
        "tempo",
    )
    """Shipped vocabulary names (captioners/vocabularies/) or paths to vocabulary files."""
    template: str | None = None
    """One prompt for every label of every vocabulary, with {label}; None uses each
    vocabulary's own."""
    limits: dict[str, TagLimits] = Field(default_factory=dict)
    """Per vocabulary (by name): top-k and threshold overriding the vocabulary file's."""
    gate: float | None = Field(default=0.5, ge=0.0, le=1.0)
    """A vocabulary whose file says `# requires: music, singing` is reported only when those
    labels of the shipped `content` vocabulary together reach this probability somewhere in the
    clip, so that a speech clip gets no music genre, mood or tempo. None reports every
    vocabulary."""
    pooling: Literal["mean", "max"] = "mean"
    """How windows of a long clip combine: "mean" scores the average of their embeddings;
    "max" keeps each label's best probability over the windows (an event heard once counts)."""


class ClapRuntime(RuntimeConfig):
    device: str = "auto"
    """"cpu", "cuda", "cuda:1"...; "auto" picks CUDA when available."""
    batch_size: int = Field(default=16, gt=0)
    """Audio windows per forward pass."""


@dataclass
class LoadedClap:
    """A CLAP model and its processor, loaded once per process per checkpoint and device."""

    torch: Any
    model: Any
    processor: Any
    device: str
    text_embeddings: dict[tuple[str, ...], Matrix]
    """Normalised prompt embeddings, computed once per set of prompts."""

    @property
    def sampling_rate(self) -> int:
        return int(self.processor.feature_extractor.sampling_rate)

    @property
    def window(self) -> int:
        """Samples the model hears at once; longer audio would be cropped at random."""
        return int(self.processor.feature_extractor.nb_max_samples)

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale_a.exp().item())

    def embed_text(self, prompts: tuple[str, ...]) -> Matrix:
        if prompts not in self.text_embeddings:
            tokens = self.processor.tokenizer(list(prompts), padding=True, return_tensors="pt")
            with self.torch.inference_mode():
                features = self.model.get_text_features(**tokens.to(self.device))
            self.text_embeddings[prompts] = _as_numpy(features)
        return self.text_embeddings[prompts]

    def embed_audio(self, windows: Sequence[npt.NDArray[np.float32]]) -> Matrix:
        inputs = self.processor.feature_extractor(
            [np.asarray(w, dtype=np.float64) for w in windows],
            sampling_rate=self.sampling_rate,
            return_tensors="pt",
        )
        with self.torch.inference_mode():
            features = self.model.get_audio_features(**inputs.to(self.device))
        return _as_numpy(features)


def _as_numpy(features: Any) -> Matrix:
    """Unit-length embeddings as a numpy matrix (transformers 5 normalises them already)."""
    tensor = getattr(features, "pooler_output", features)
    matrix = np.asarray(tensor.float().cpu().numpy(), dtype=np.float32)
    norms = np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return np.asarray(matrix / norms, dtype=np.float32)


class ClapTagger(Captioner):
    """Tags each clip with the labels of each vocabulary that CLAP finds most probable."""

    name: ClassVar[str] = NAME
    kind: ClassVar[StageKind] = "tags"
    version: ClassVar[int] = 1
    extra: ClassVar[str | None] = EXTRA
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers")
    Config = ClapConfig
    Runtime = ClapRuntime
    config: ClapConfig
    runtime: ClapRuntime

    def __init__(
        self,
        config: ComponentConfig | dict[str, Any] | None = None,
        runtime: RuntimeConfig | dict[str, Any] | None = None,
    ) -> None:
        super().__init__(config, runtime)
        if not self.config.vocabularies:
            raise ConfigError(f"captioner {NAME!r}: no vocabulary to tag with")
        if self.config.template is not None and "{label}" not in self.config.template:
            raise ConfigError(f"captioner {NAME!r}: the template needs a {{label}} placeholder")
        self.vocabularies = [load_vocabulary(v) for v in self.config.vocabularies]
        names = [v.name for v in self.vocabularies]
        if len(set(names)) != len(names):
            raise ConfigError(f"captioner {NAME!r}: two vocabularies named alike in {names}")
        if unknown := sorted(set(self.config.limits) - set(names)):
            raise ConfigError(f"captioner {NAME!r}: limits for unknown vocabularies {unknown}")
        self.gate: Vocabulary | None = None
        if self.config.gate is not None and any(v.requires for v in self.vocabularies):
            self.gate = load_vocabulary(GATE_VOCABULARY)
            for vocabulary in self.vocabularies:
                if missing := sorted(set(vocabulary.requires) - set(self.gate.labels)):
                    raise ConfigError(
                        f"captioner {NAME!r}: vocabulary {vocabulary.name!r} requires {missing}, "
                        f"which the {GATE_VOCABULARY!r} vocabulary does not hold"
                    )

    def identity_extras(self) -> dict[str, Any]:
        # The labels, prompts and limits decide the tags: key their content, not file names.
        resolved = [
            (v.name, v.prompts(self.config.template), v.top_k, v.threshold, v.requires)
            for v in self.vocabularies
        ]
        if self.gate is not None:
            resolved.append((GATE_VOCABULARY, self.gate.prompts(), 0, 0.0, ()))
        return {"vocabulary_digest": digest(resolved)}

    def describe(self, batch: Sequence[StageInput]) -> list[StageOutput]:
        clap = self.load()
        decoded = self.each_clip(batch, lambda item: item.clip.mono(clap.sampling_rate))
        outputs = [d if isinstance(d, StageOutput) else None for d in decoded]
        windows: list[npt.NDArray[np.float32]] = []
        owners: list[int] = []
        for index, audio in enumerate(decoded):
            if isinstance(audio, StageOutput):
                continue
            for start, end in _windows(len(audio), clap.window, clap.sampling_rate):
                windows.append(audio[start:end])
                owners.append(index)
        embeddings = self._embed(clap, windows)
        for index in sorted(set(owners)):
            rows = embeddings[[i for i, owner in enumerate(owners) if owner == index]]
            outputs[index] = self._tag(clap, batch[index], rows)
        return [
            o if o is not None else self.failure(batch[i], "no output was produced")
            for i, o in enumerate(outputs)
        ]

    def load(self) -> LoadedClap:
        """The loaded model (loaded on first use, then shared within the process)."""
        return load_once(self._key(), self._load)

    def close(self) -> None:
        forget(self._key())

    def _key(self) -> tuple[Any, ...]:
        return (NAME, self.config.model, self.config.revision, self.runtime.device)

    def _scores(self, clap: LoadedClap, prompts: tuple[str, ...], audio: Matrix) -> Matrix:
        """Each window's probability for each label of a vocabulary, given as its prompts
        ([windows, labels]; one row with mean pooling)."""
        text = clap.embed_text(prompts)
        if self.config.pooling == "mean":
            pooled = audio.mean(axis=0, keepdims=True)
            audio = np.asarray(pooled / np.linalg.norm(pooled, axis=1, keepdims=True), np.float32)
        return _softmax(np.asarray(clap.logit_scale * audio @ text.T, dtype=np.float32))

    def _gates(self, clap: LoadedClap, audio: Matrix) -> dict[str, dict[str, Any]]:
        """For each gated vocabulary: the probability its required content was heard."""
        if self.gate is None or self.config.gate is None:
            return {}
        content = self._scores(clap, self.gate.prompts(), audio)
        gates = {}
        for vocabulary in self.vocabularies:
            if vocabulary.requires:
                columns = [self.gate.labels.index(label) for label in vocabulary.requires]
                heard = float(content[:, columns].sum(axis=1).max())
                gates[vocabulary.name] = {
                    "requires": list(vocabulary.requires),
                    "probability": round(heard, 4),
                    "open": heard >= self.config.gate,
                }
        return gates

    def _embed(self, clap: LoadedClap, windows: Sequence[npt.NDArray[np.float32]]) -> Matrix:
        size = self.runtime.batch_size
        parts = [clap.embed_audio(windows[i : i + size]) for i in range(0, len(windows), size)]
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)

    def _tag(self, clap: LoadedClap, item: StageInput, embeddings: Matrix) -> StageOutput:
        gates = self._gates(clap, embeddings)
        lines: list[str] = []
        data: dict[str, list[dict[str, Any]]] = {}
        for vocabulary in self.vocabularies:
            name = vocabulary.name
            if name in gates and not gates[name]["open"]:
                data[name] = []
                continue
            prompts = vocabulary.prompts(self.config.template)
            best = self._scores(clap, prompts, embeddings).max(axis=0)
            limits = self.config.limits.get(name, TagLimits())
            top_k = limits.top_k or vocabulary.top_k
            threshold = vocabulary.threshold if limits.threshold is None else limits.threshold
            order = np.argsort(-best, kind="stable")
            tags = [
                {"label": vocabulary.labels[i], "probability": round(float(best[i]), 4)}
                for i in order[:top_k]
                if best[i] >= threshold
            ]
            data[name] = tags
            if tags:
                listed = ", ".join(f"{t['label']} ({t['probability']:.2f})" for t in tags)
                lines.append(f"{vocabulary.title}: {listed}")
        text = "\n".join(lines) or "no label reached its threshold"
        return self.output(
            item,
            text,
            model=self.config.model,
            pooling=self.config.pooling,
            windows=len(embeddings),
            tags=data,
            gates=gates,
        )

    def _load(self) -> LoadedClap:
        torch = require("torch", component=f"captioner {NAME!r}", extra=EXTRA)
        transformers = require("transformers", component=f"captioner {NAME!r}", extra=EXTRA)
        device = self.runtime.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            processor = transformers.ClapProcessor.from_pretrained(
                self.config.model, revision=self.config.revision
            )
            model = transformers.ClapModel.from_pretrained(
                self.config.model, revision=self.config.revision
            )
        except Exception as error:
            raise ComponentError(
                f"captioner {NAME!r} could not load {self.config.model!r}: "
                f"{type(error).__name__}: {error}"
            ) from error
        model.to(device).eval()
        return LoadedClap(torch, model, processor, device, {})


def _windows(frames: int, size: int, rate: int) -> list[tuple[int, int]]:
    windows = [(start, min(start + size, frames)) for start in range(0, frames, size)]
    if len(windows) > 1 and windows[-1][1] - windows[-1][0] < MIN_WINDOW_S * rate:
        windows.pop()
    return windows


def _softmax(logits: Matrix) -> Matrix:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float32)
