"""The config of a reasoner that runs a chat model itself (vLLM, transformers): which model at
which revision, how it samples, and what its chat template is given."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from cascade.core import ComponentConfig

from .bundled import check_revision


class ChatModelConfig(ComponentConfig):
    model: str = "smollm2-135m-instruct"
    """A hub id, a local folder, or a bundled alias (`smollm2-135m-instruct`)."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) of the model and its tokenizer; None for the default
    branch, which may move. Only for a hub id."""
    temperature: float = Field(default=0.0, ge=0)
    """0 is greedy decoding (deterministic)."""
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int | None = None
    """Sample from the k most likely tokens (None: no limit). Qwen3 recommends 20."""
    max_tokens: int = Field(default=2048, ge=1)
    """Generated-token budget, thinking included (reasoning models need 16k or more)."""
    seed: int | None = 0
    """Sampling seed of sample 0; sample i uses seed + i. None: unseeded."""
    chat_template_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Passed to the model's chat template, e.g. {"enable_thinking": false} for Qwen3."""

    @model_validator(mode="after")
    def _revision_of_a_hub_model(self) -> ChatModelConfig:
        return check_revision(self)
