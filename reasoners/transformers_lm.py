"""transformers back-end: local chat generation with any causal LM, batched, on CPU or GPU.

The fallback when vLLM is not installed, and the simplest way to run a model on a laptop. Prompts
are rendered with the tokenizer's chat template and batched with left padding (a decoder-only
model must see its prompt end right where generation starts). Temperature 0 is greedy decoding.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import Field

from cascade.core import (
    ChatRequest,
    ComponentError,
    Reasoner,
    ReasonerResponse,
    RuntimeConfig,
    forget,
    load_once,
    require,
)

from .bundled import identity_extras, resolve_model, token_counter
from .chat_model import ChatModelConfig
from .responses import build_response, chat_messages, seed_for
from .thinking import opens_thinking

log = logging.getLogger(__name__)


class TransformersConfig(ChatModelConfig):
    max_tokens: int = Field(default=1024, ge=1)
    """Generated-token budget, thinking included."""
    seed: int | None = 0
    """When sampling: each batch is seeded with seed + the sample index of its first request."""


class TransformersRuntime(RuntimeConfig):
    device: str = "auto"
    """`auto` (CUDA when available, else CPU), `cpu`, `cuda`, `cuda:1`..."""
    dtype: str = "auto"
    """`auto` (bfloat16 on GPU, float32 on CPU), or a torch dtype name. It changes answers, so
    it is part of the identity (cache key), as configured."""
    batch_size: int = Field(default=8, ge=1)
    """Requests generated together (left-padded)."""
    threads: int | None = Field(default=None, ge=1)
    """CPU threads for torch (None: torch's default)."""
    trust_remote_code: bool = False


class TransformersReasoner(Reasoner):
    """Chat generation with `AutoModelForCausalLM.generate`."""

    name: ClassVar[str] = "transformers"
    version: ClassVar[int] = 1
    extra: ClassVar[str | None] = "transformers"
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers")
    Config = TransformersConfig
    Runtime = TransformersRuntime
    config: TransformersConfig
    runtime: TransformersRuntime

    def _require(self, module: str) -> Any:
        return require(module, component="reasoner 'transformers'", extra="transformers")

    def _key(self) -> tuple[Any, ...]:
        return ("transformers", self.config.model_dump_json(), self.runtime.model_dump_json())

    def load(self) -> tuple[Any, Any, Any]:
        """(torch, tokenizer, model), loaded on first use, then shared within the process."""
        return load_once(self._key(), self._load)

    def _load(self) -> tuple[Any, Any, Any]:
        torch, transformers = self._require("torch"), self._require("transformers")
        rt = self.runtime
        if rt.threads:
            torch.set_num_threads(rt.threads)
        device = rt.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype_name = rt.dtype
        if dtype_name == "auto":
            dtype_name = "float32" if device == "cpu" else "bfloat16"
        path = resolve_model(self.config.model)
        started = time.perf_counter()
        try:
            revision = {"revision": self.config.revision} if self.config.revision else {}
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                path, trust_remote_code=rt.trust_remote_code, **revision
            )
            model = transformers.AutoModelForCausalLM.from_pretrained(
                path,
                dtype=getattr(torch, dtype_name),
                trust_remote_code=rt.trust_remote_code,
                **revision,
            )
        except (OSError, ValueError) as error:
            raise ComponentError(
                f"reasoner 'transformers': could not load {self.config.model!r} "
                f"({type(error).__name__}: {error})"
            ) from error
        model.to(device).eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if not getattr(tokenizer, "chat_template", None):
            raise ComponentError(
                f"reasoner 'transformers': {self.config.model!r} has no chat template; "
                "use an instruct/chat model"
            )
        log.info("transformers loaded %s in %.1f s", path, time.perf_counter() - started)
        return torch, tokenizer, model

    def generate(self, requests: Sequence[ChatRequest]) -> list[ReasonerResponse]:
        responses: list[ReasonerResponse] = []
        size = self.runtime.batch_size
        for start in range(0, len(requests), size):
            responses.extend(self._batch(requests[start : start + size]))
        return responses

    def _prompt(self, tokenizer: Any, request: ChatRequest) -> str:
        return str(
            tokenizer.apply_chat_template(
                chat_messages(request),
                tokenize=False,
                add_generation_prompt=True,
                **self.config.chat_template_kwargs,
            )
        )

    def _sampling(self, torch: Any, request: ChatRequest) -> dict[str, Any]:
        c = self.config
        if c.temperature == 0:
            return {"do_sample": False}
        seed = seed_for(c.seed, request)
        if seed is not None:
            torch.manual_seed(seed)
        options: dict[str, Any] = {
            "do_sample": True,
            "temperature": c.temperature,
            "top_p": c.top_p,
        }
        if c.top_k is not None:
            options["top_k"] = c.top_k
        return options

    def _batch(self, requests: Sequence[ChatRequest]) -> list[ReasonerResponse]:
        torch, tokenizer, model = self.load()
        prompts = [self._prompt(tokenizer, r) for r in requests]
        # The chat template already holds the special tokens (BOS and role markers).
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = encoded.to(model.device)
        stop_ids = _eos_ids(model, tokenizer)
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(
                **encoded,
                max_new_tokens=self.config.max_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=sorted(stop_ids),
                **self._sampling(torch, requests[0]),
            )
        per_request = (time.perf_counter() - started) / len(requests)
        width = encoded["input_ids"].shape[1]
        responses = []
        for row, (prompt, mask) in enumerate(zip(prompts, encoded["attention_mask"], strict=True)):
            tokens = output[row, width:].tolist()
            stop = next((i for i, t in enumerate(tokens) if t in stop_ids), None)
            generated = tokens if stop is None else tokens[:stop]
            text = tokenizer.decode(generated, skip_special_tokens=True)
            responses.append(
                build_response(
                    text,
                    raw_finish_reason="stop" if stop is not None else "length",
                    prompt_opens_thinking=opens_thinking(prompt),
                    prompt_tokens=int(mask.sum()),
                    completion_tokens=len(generated) + (stop is not None),
                    latency_s=per_request,
                )
            )
        return responses

    def token_counter(self) -> Callable[[str], int] | None:
        return token_counter(self.config.model)

    def identity_extras(self) -> dict[str, Any]:
        # The weights' precision changes the answers, like the config's own values.
        return {**identity_extras(self.config.model), "dtype": self.runtime.dtype}

    def close(self) -> None:
        forget(self._key())


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every token that ends a turn: the generation config's and the tokenizer's EOS."""
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(tokenizer.eos_token_id)
    return {int(i) for i in ids if i is not None}
