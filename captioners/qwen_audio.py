"""Free-form captions of clips from an audio-language model, through transformers or vLLM.

The captioning instruction is a template in `prompts/` (`caption`, or `caption_question` to focus
the caption on what an item's question needs); the model's own chat template and audio tokens are
applied here, so the core only ever passes clips and plain text. A model hears a limited span per
prompt (Qwen2-Audio 30 s, Audio Flamingo 3 ten minutes): a longer clip is captioned window by
window and the captions are joined with their time ranges, so nothing is dropped silently.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import ByteSize, Field

from cascade.core import (
    Captioner,
    CascadeError,
    ComponentConfig,
    ComponentError,
    ConfigError,
    RuntimeConfig,
    StageInput,
    StageKind,
    StageOutput,
    Waveform,
    digest,
    forget,
    load_once,
    prompts,
    require,
)

NAME = "qwen-audio"
EXTRA = "qwen-audio"
CONDITIONING = ("question", "choices")
"""The only placeholders a captioning prompt may declare."""


@dataclass(frozen=True)
class Family:
    """What differs between the audio-language model families this captioner can run."""

    model_type: str
    """`model_type` in the checkpoint's config.json."""
    model_class: str
    """The transformers class that generates text from text and audio."""
    window_s: float
    """The longest audio the model hears in one prompt..."""
    window_setting: str
    """...or the processor setting (dotted attribute, seconds) that says so, if shorter."""


FAMILIES: dict[str, Family] = {
    # Qwen2-Audio(-7B-Instruct): a 30-second Whisper window per prompt.
    "qwen2_audio": Family(
        "qwen2_audio",
        "Qwen2AudioForConditionalGeneration",
        window_s=30.0,
        window_setting="feature_extractor.chunk_length",
    ),
    # Audio Flamingo 3 (nvidia/audio-flamingo-3-hf): the processor splits up to 10 minutes into
    # 30-second Whisper windows inside one prompt.
    "audioflamingo3": Family(
        "audioflamingo3",
        "AudioFlamingo3ForConditionalGeneration",
        window_s=600.0,
        window_setting="max_audio_len",
    ),
}
"""Families whose code path is tested (on tiny random models built from a config)."""

MIN_WINDOW_S = 1.0
"""A clip's last window shorter than this is dropped when earlier windows cover the clip."""
MIN_CLIP_S = 0.1
"""Shorter clips are refused: they give the model no audio token or nearly none, and a backend
would then caption silence (transformers) or fail (vLLM)."""


class QwenAudioConfig(ComponentConfig):
    model: str = "Qwen/Qwen2-Audio-7B-Instruct"
    """Hugging Face hub id or local folder of a chat (Instruct) checkpoint, processor included:
    Qwen/Qwen2-Audio-7B-Instruct, or nvidia/audio-flamingo-3-hf (licensed for non-commercial use
    only). Other model types are refused."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) of the checkpoint; None for the default branch."""
    prompt: str = "caption"
    """Captioning template in prompts/ (or a path to a .yaml file). A template with the
    placeholders `question` and `choices` conditions the caption on the item's question."""
    max_new_tokens: int = Field(default=256, gt=0)
    """Longest caption, in tokens, per window. A caption cut at this limit is flagged."""
    temperature: float = Field(default=0.0, ge=0.0)
    """0 decodes greedily (the default); above 0 samples."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    """Nucleus sampling mass, used only when sampling."""
    seed: int = 0
    """Sampling seed, used only when sampling."""
    long_audio: Literal["windows", "first-window"] = "windows"
    """How a clip longer than the model's window is heard: caption every window in turn
    ("windows"), or only the first one ("first-window", what the model's processor does)."""


class QwenAudioRuntime(RuntimeConfig):
    backend: Literal["transformers", "vllm"] = "transformers"
    """transformers (batched `generate`) or vLLM's offline engine (continuous batching). With
    greedy decoding both compute the same captions up to numerical differences, so it is part of
    the captioner's identity (cache key)."""
    device: str = "auto"
    """transformers backend: "cpu", "cuda", "cuda:1"...; "auto" picks CUDA when available."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weight precision; "auto" is bfloat16 on a GPU and float32 on CPU (transformers), the
    checkpoint's own choice (vLLM). Part of the identity (cache key), as configured."""
    batch_size: int = Field(default=8, gt=0)
    """Prompts (one per window of a clip) per generation call; for vLLM also the engine's
    most concurrent sequences."""
    gpu_memory_utilization: float = Field(default=0.9, gt=0.0, le=1.0)
    """vLLM: fraction of GPU memory to reserve. On a CPU build it is a fraction of the NUMA
    node's total memory, which machines report differently: use `kv_cache_bytes` there."""
    kv_cache_bytes: ByteSize | None = None
    """vLLM: KV cache size in bytes (`1GiB`, `64MiB` or a number), vLLM's `kv_cache_memory_bytes`;
    set, it makes vLLM ignore `gpu_memory_utilization`. The way to size memory on CPU."""
    tensor_parallel_size: int = Field(default=1, gt=0)
    """vLLM: GPUs the model is split across."""
    max_model_len: int | None = 4096
    """vLLM: longest prompt + caption in tokens (bounds the KV cache); None for the model's."""
    enforce_eager: bool = False
    """vLLM: skip CUDA graph capture and compilation (faster start-up; advised on CPU)."""


@dataclass(frozen=True)
class Request:
    """One prompt to the model: one window of one clip."""

    item_index: int
    start_s: float
    end_s: float
    prompt: str
    audio: Waveform


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str
    tokens: int
    error: str | None = None


class Backend:
    """A loaded model that turns prompts with audio into text; one per process per checkpoint."""

    processor: Any
    model_type: str

    def generate(self, requests: Sequence[Request], config: QwenAudioConfig) -> list[Generation]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the model's memory."""


class QwenAudioCaptioner(Captioner):
    """Captions each clip with an audio-language model and a captioning prompt from prompts/."""

    name: ClassVar[str] = NAME
    kind: ClassVar[StageKind] = "caption"
    version: ClassVar[int] = 1
    extra: ClassVar[str | None] = EXTRA
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers")
    Config = QwenAudioConfig
    Runtime = QwenAudioRuntime
    config: QwenAudioConfig
    runtime: QwenAudioRuntime

    def __init__(
        self,
        config: ComponentConfig | dict[str, Any] | None = None,
        runtime: RuntimeConfig | dict[str, Any] | None = None,
    ) -> None:
        super().__init__(config, runtime)
        self.template = prompts.load(self.config.prompt)
        if unknown := sorted(set(self.template.placeholders) - set(CONDITIONING)):
            raise ConfigError(
                f"captioner {NAME!r}: prompt {self.template.name!r} declares {unknown}; a "
                f"captioning prompt may only use {list(CONDITIONING)}"
            )

    @property
    def conditions_on_question(self) -> bool:
        return bool(self.template.placeholders)

    def identity_extras(self) -> dict[str, Any]:
        # The prompt's text changes the captions, so its content (not only its name) is keyed.
        prompt = {
            "name": self.template.name,
            "version": self.template.version,
            "messages": [(role, t.template) for role, t in self.template.messages],
        }
        # The backend and the weights' precision change the captions too (they are runtime
        # options only because they also decide how the model runs).
        return {
            "prompt_digest": digest(prompt),
            "backend": self.runtime.backend,
            "dtype": self.runtime.dtype,
        }

    def describe(self, batch: Sequence[StageInput]) -> list[StageOutput]:
        backend = self.load()
        rate = int(backend.processor.feature_extractor.sampling_rate)
        window_s = _window_s(backend)
        decoded = self.each_clip(batch, lambda item: item.clip.mono(rate))
        outputs = [d if isinstance(d, StageOutput) else None for d in decoded]
        requests: list[Request] = []
        for index, (item, audio) in enumerate(zip(batch, decoded, strict=True)):
            if isinstance(audio, StageOutput):
                continue
            if len(audio) < MIN_CLIP_S * rate:
                outputs[index] = self.failure(
                    item, f"clip lasts {len(audio) / rate:.3f} s, too short to caption"
                )
                continue
            prompt = self._prompt(backend.processor, item)
            for start, end in self._windows(len(audio), rate, window_s):
                requests.append(Request(index, start / rate, end / rate, prompt, audio[start:end]))
        generations = self._generate_isolating(backend, requests)
        by_item: dict[int, list[tuple[Request, Generation]]] = {}
        for request, generation in zip(requests, generations, strict=True):
            by_item.setdefault(request.item_index, []).append((request, generation))
        for index, pairs in by_item.items():
            outputs[index] = self._join(batch[index], pairs)
        return [
            o if o is not None else self.failure(batch[i], "no output was produced")
            for i, o in enumerate(outputs)
        ]

    def close(self) -> None:
        backend = forget(self._backend_key())
        if backend is not None:
            backend.close()

    def render_prompt(self, item: StageInput) -> str:
        """The exact text prompt the model gets for an item, audio placeholder included."""
        return self._prompt(self.load().processor, item)

    def _prompt(self, processor: Any, item: StageInput) -> str:
        values: dict[str, str] = {}
        if self.conditions_on_question:
            values = {
                "question": item.question,
                "choices": "\n".join(f"- {choice}" for choice in item.choices),
            }
        # A prompt may take the question alone (`ask_audio`: an agent's free-form question).
        messages = self.template.render(
            **{k: v for k, v in values.items() if k in self.template.placeholders}
        )
        # The audio goes first in the first user turn, as the model was trained to see it.
        conversation: list[dict[str, Any]] = []
        audio_placed = False
        for message in messages:
            if message.role == "user" and not audio_placed:
                # Both keys: chat templates test either the part's type or an "audio" key.
                content: Any = [
                    {"type": "audio", "audio": "clip"},
                    {"type": "text", "text": message.content},
                ]
                audio_placed = True
            else:
                content = message.content
            conversation.append({"role": message.role, "content": content})
        if not audio_placed:
            raise ConfigError(f"prompt {self.template.name!r} has no user message for the audio")
        text = processor.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True
        )
        return str(text)

    def _windows(self, frames: int, rate: int, window_s: float) -> list[tuple[int, int]]:
        size = int(window_s * rate)
        if self.config.long_audio == "first-window" or frames <= size:
            return [(0, min(frames, size))]
        windows = [(start, min(start + size, frames)) for start in range(0, frames, size)]
        if windows[-1][1] - windows[-1][0] < MIN_WINDOW_S * rate:
            windows.pop()
        return windows

    def _join(self, item: StageInput, pairs: list[tuple[Request, Generation]]) -> StageOutput:
        failed = [g.error for _, g in pairs if g.error]
        if failed:
            return self.failure(item, failed[0])
        if any(not g.text for _, g in pairs):
            return self.failure(item, f"{self.config.model} returned an empty caption")
        windows = [
            {
                "start_s": round(r.start_s, 3),
                "end_s": round(r.end_s, 3),
                "text": g.text,
                "finish_reason": g.finish_reason,
                "tokens": g.tokens,
            }
            for r, g in pairs
        ]
        heard, duration = sum(r.end_s - r.start_s for r, _ in pairs), item.clip.duration_s
        if len(pairs) > 1:
            text = "\n".join(f"[{_clock(r.start_s)}-{_clock(r.end_s)}] {g.text}" for r, g in pairs)
        elif heard < duration - MIN_WINDOW_S:
            # Only part of the clip was heard ("first-window"): the reader must know.
            request, generation = pairs[0]
            span = f"{_clock(request.start_s)}-{_clock(request.end_s)} of {_clock(duration)}"
            text = f"[{span}] {generation.text}"
        else:
            text = pairs[0][1].text
        return self.output(
            item,
            text,
            model=self.config.model,
            backend=self.runtime.backend,
            prompt=self.template.name,
            windows=windows,
            seconds_heard=round(heard, 3),
            duration_s=round(duration, 3),
            truncated=any(g.finish_reason == "length" for _, g in pairs),
        )

    def _generate_isolating(
        self, backend: Backend, requests: Sequence[Request]
    ) -> list[Generation]:
        """Generate in batches; a batch that fails is redone prompt by prompt, so that one bad
        window fails only its own item."""
        results: list[Generation] = []
        size = self.runtime.batch_size
        for start in range(0, len(requests), size):
            chunk = requests[start : start + size]
            try:
                results.extend(backend.generate(chunk, self.config))
                continue
            except Exception as error:
                if len(chunk) == 1:
                    results.append(_failed(error))
                    continue
            for request in chunk:
                try:
                    results.extend(backend.generate([request], self.config))
                except Exception as error:
                    results.append(_failed(error))
        return results

    def _backend_key(self) -> tuple[Any, ...]:
        """What the loaded model depends on: two captioners that agree on it share one model."""
        runtime = self.runtime
        key: tuple[Any, ...] = (
            NAME,
            self.config.model,
            self.config.revision,
            runtime.backend,
            runtime.dtype,
        )
        if runtime.backend == "transformers":
            return (*key, runtime.device)
        return (
            *key,
            runtime.gpu_memory_utilization,
            runtime.kv_cache_bytes,
            runtime.tensor_parallel_size,
            runtime.max_model_len,
            runtime.enforce_eager,
            runtime.batch_size,
        )

    def load(self) -> Backend:
        """The loaded model (loaded on first use, then shared by every captioner in the process
        with the same checkpoint and runtime)."""
        return load_once(self._backend_key(), self._load_reported)

    def _load_reported(self) -> Backend:
        try:
            return self._load()
        except CascadeError:
            raise  # already says what to do (unsupported model, missing extra...)
        except Exception as error:
            raise ComponentError(
                f"captioner {NAME!r} could not load {self.config.model!r} with the "
                f"{self.runtime.backend} backend: {type(error).__name__}: {error}"
            ) from error

    def _load(self) -> Backend:
        if self.runtime.backend == "vllm":
            return VllmBackend(self.config, self.runtime)
        return TransformersBackend(self.config, self.runtime)


def _failed(error: BaseException) -> Generation:
    return Generation("", "error", 0, error=f"{type(error).__name__}: {error}")


def _clock(seconds: float) -> str:
    whole = math.floor(seconds + 0.5)
    return f"{whole // 60}:{whole % 60:02d}"


def _window_s(backend: Backend) -> float:
    """The longest audio one prompt holds: the family's limit, or the processor's if shorter."""
    family = FAMILIES[backend.model_type]
    setting: Any = backend.processor
    for name in family.window_setting.split("."):
        setting = getattr(setting, name, None)
    return float(min(family.window_s, setting)) if setting else family.window_s


def _checked_family(model_type: str, model: str) -> Family:
    family = FAMILIES.get(model_type)
    if family is None:
        raise ConfigError(
            f"captioner {NAME!r} does not support {model!r} (model_type {model_type!r}); "
            f"supported model types: {', '.join(sorted(FAMILIES))}"
        )
    return family


def _load_processor(config: QwenAudioConfig) -> tuple[Any, str]:
    transformers = require("transformers", component=f"captioner {NAME!r}", extra=EXTRA)
    model_config = transformers.AutoConfig.from_pretrained(config.model, revision=config.revision)
    model_type = str(model_config.model_type)
    _checked_family(model_type, config.model)
    processor = transformers.AutoProcessor.from_pretrained(config.model, revision=config.revision)
    return processor, model_type


class TransformersBackend(Backend):
    """`generate` on batches padded on the left (the prompt ends where the caption begins)."""

    def __init__(self, config: QwenAudioConfig, runtime: QwenAudioRuntime) -> None:
        torch = require("torch", component=f"captioner {NAME!r}", extra=EXTRA)
        transformers = require("transformers", component=f"captioner {NAME!r}", extra=EXTRA)
        self.torch = torch
        self.processor, self.model_type = _load_processor(config)
        self.processor.tokenizer.padding_side = "left"
        device = runtime.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = runtime.dtype
        if dtype == "auto":
            dtype = "float32" if device == "cpu" else "bfloat16"
        model_class = getattr(transformers, FAMILIES[self.model_type].model_class)
        # Loaded onto the device tensor by tensor, not staged whole in host memory first.
        self.model = model_class.from_pretrained(
            config.model, revision=config.revision, dtype=getattr(torch, dtype), device_map=device
        )
        self.model.eval()
        self.device = device

    def generate(self, requests: Sequence[Request], config: QwenAudioConfig) -> list[Generation]:
        torch = self.torch
        rate = int(self.processor.feature_extractor.sampling_rate)
        inputs = self.processor(
            text=[r.prompt for r in requests],
            audio=[r.audio for r in requests],
            sampling_rate=rate,
            # Pad the prompts only: each processor pads audio its own way (to its window).
            text_kwargs={"padding": True},
            return_tensors="pt",
        ).to(self.device)
        options: dict[str, Any] = {"max_new_tokens": config.max_new_tokens}
        if config.temperature > 0:
            torch.manual_seed(config.seed)
            options.update(do_sample=True, temperature=config.temperature, top_p=config.top_p)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            sequences = self.model.generate(**inputs, **options)
        new_tokens = sequences[:, inputs["input_ids"].shape[1] :].cpu().tolist()
        stops = _stop_ids(self.model.generation_config, self.processor.tokenizer)
        generations = []
        for row in new_tokens:
            end = next((i for i, token in enumerate(row) if token in stops), None)
            kept = row if end is None else row[:end]
            text = self.processor.tokenizer.decode(kept, skip_special_tokens=True).strip()
            reason = "length" if end is None else "stop"
            generations.append(Generation(text, reason, len(row) if end is None else end + 1))
        return generations

    def close(self) -> None:
        del self.model
        gc.collect()
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()


def _stop_ids(generation_config: Any, tokenizer: Any) -> set[int]:
    eos = generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


class VllmBackend(Backend):
    """vLLM's offline engine: audio passed as `multi_modal_data`, prompts batched by the engine.

    vLLM starts worker processes: a script using it must run under `if __name__ == "__main__":`.
    """

    def __init__(self, config: QwenAudioConfig, runtime: QwenAudioRuntime) -> None:
        vllm = require("vllm", component=f"captioner {NAME!r}", extra="vllm")
        self.vllm = vllm
        self.processor, self.model_type = _load_processor(config)
        kv_cache = {}
        if runtime.kv_cache_bytes is not None:
            kv_cache["kv_cache_memory_bytes"] = int(runtime.kv_cache_bytes)
        self.llm = vllm.LLM(
            model=config.model,
            runner="generate",
            revision=config.revision,
            dtype=runtime.dtype,
            tensor_parallel_size=runtime.tensor_parallel_size,
            gpu_memory_utilization=runtime.gpu_memory_utilization,
            **kv_cache,
            max_model_len=runtime.max_model_len,
            enforce_eager=runtime.enforce_eager,
            max_num_seqs=runtime.batch_size,
            limit_mm_per_prompt={"audio": 1},
        )

    def generate(self, requests: Sequence[Request], config: QwenAudioConfig) -> list[Generation]:
        rate = int(self.processor.feature_extractor.sampling_rate)
        sampling = self.vllm.SamplingParams(
            max_tokens=config.max_new_tokens,
            temperature=config.temperature,
            top_p=config.top_p if config.temperature > 0 else 1.0,
            seed=config.seed if config.temperature > 0 else None,
        )
        prompts_ = [
            {"prompt": r.prompt, "multi_modal_data": {"audio": (np.asarray(r.audio), rate)}}
            for r in requests
        ]
        results = self.llm.generate(prompts_, sampling, use_tqdm=False)
        generations = []
        for result in results:
            completion = result.outputs[0]
            reason = "length" if completion.finish_reason == "length" else "stop"
            generations.append(
                Generation(completion.text.strip(), reason, len(completion.token_ids))
            )
        return generations

    def close(self) -> None:
        del self.llm
        gc.collect()
