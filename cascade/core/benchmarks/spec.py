"""Which benchmark a run evaluates, and on which of its items (the config's `benchmark` block)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class BenchmarkSpec(BaseModel):
    """Which benchmark a run evaluates, and on which of its items."""

    model_config = ConfigDict(extra="forbid")

    name: str = "demo"
    """A registered benchmark (`cascade list`)."""
    meta: Path | None = None
    """A metadata file (.json or .jsonl) in the benchmark's format, instead of the shipped one."""
    audio_root: Path | None = None
    """Folder that the items' `audio_path` values are relative to."""
    source: str = "local"
    """`local` (meta and audio on disk) or `hub` (download from the Hugging Face dataset)."""
    limit: int | None = Field(default=None, ge=1)
    """Keep only the first N items (after the other filters)."""
    ids: list[str] = Field(default_factory=list)
    """Keep only these item ids (an unknown id is an error)."""
    modalities: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    sub_categories: list[str] = Field(default_factory=list)
    skip_missing_audio: bool = False
    """Run without the items whose audio is missing (listed in the summary) instead of failing."""
