"""The clap tagger, run for real on tiny random CLAP models saved like the LAION checkpoints.

No CLAP weights exist on the build machines, so the models are built from small configs with a
locally made processor (CLAP feature extractor, byte-level RoBERTa tokenizer) and loaded through
the same code as laion/clap-htsat-unfused (and, fused, laion/clap-htsat-fused). Their tags are
arbitrary: the tests check order, scores, limits, windows, errors, batching and determinism.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cascade.core import Clip, ConfigError, MissingExtraError, StageInput

pytest.importorskip("torch")
pytest.importorskip("transformers")

from cascade.captioners.clap import ClapConfig, ClapTagger, load_vocabulary, shipped_vocabularies

RATE = 48000


def build_tiny_clap(folder: Path, *, fused: bool = False) -> Path:
    """Save a random CLAP: a 2-stage HTSAT audio encoder and a 1-layer RoBERTa, 16-d joint space."""
    import torch
    from tokenizers import pre_tokenizers
    from transformers import (
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        RobertaTokenizer,
    )

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    specials = ["<pad>", "<unk>", "<s>", "</s>", "<mask>"]
    vocab = {token: i for i, token in enumerate(specials + alphabet)}
    tokenizer = RobertaTokenizer(vocab=vocab, merges=[])
    extractor = ClapFeatureExtractor(truncation="fusion" if fused else "rand_trunc")
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    config = ClapConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "max_position_embeddings": 130,
            "projection_dim": 16,
        },
        audio_config={
            "depths": [1, 1],
            "num_attention_heads": [1, 2],
            "patch_embeds_hidden_size": 16,
            "hidden_size": 32,
            "projection_dim": 16,
            "enable_fusion": fused,
            "fusion_type": "aff_2d" if fused else None,
        },
        projection_dim=16,
    )
    torch.manual_seed(0)
    ClapModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_clap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clap(tmp_path_factory.mktemp("tiny-clap"))


def tone(seconds: float, frequency: float = 440.0, rate: int = RATE) -> Clip:
    t = np.arange(int(seconds * rate)) / rate
    return Clip.from_array(0.3 * np.sin(2 * np.pi * frequency * t), rate)


def noise(seconds: float, rate: int = 16000, seed: int = 0) -> Clip:
    samples = 0.1 * np.random.default_rng(seed).standard_normal((int(seconds * rate), 2))
    return Clip.from_array(samples, rate)


def vocabulary_file(folder: Path, name: str, labels: list[str], header: str = "") -> str:
    path = folder / f"{name}.txt"
    path.write_text(header + "\n".join(labels) + "\n")
    return str(path)


def test_shipped_vocabularies_are_well_formed() -> None:
    names = shipped_vocabularies()
    assert names == ["content", "instruments", "moods", "music_genres", "sound_events", "tempo"]
    content = load_vocabulary("content")
    for name in names:
        vocabulary = load_vocabulary(name)
        assert len(vocabulary.labels) >= 5
        assert "{label}" in vocabulary.template
        assert vocabulary.top_k >= 1 and 0 < vocabulary.threshold < 1
        assert set(vocabulary.requires) <= set(content.labels)
    assert load_vocabulary("tempo").prompts()[0] == "This music has a very slow tempo."
    assert load_vocabulary("tempo").requires == ("music", "singing")
    assert load_vocabulary("sound_events").requires == ()


def test_tags_every_clip_in_order_within_limits_and_records_unreadable_clips(
    tiny_clap: Path, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    batch = [
        StageInput("tone", tone(2.0)),
        StageInput("corrupt", Clip(path=corrupt)),
        StageInput("noise", noise(3.0)),
        StageInput("missing", Clip(path=tmp_path / "missing.flac")),
    ]
    # A random model finds every label about equally likely: threshold 0 to see top-k tags,
    # and no gate (it would find no music).
    everything = {name: {"threshold": 0.0} for name in ClapConfig().vocabularies}
    tagger = ClapTagger({"model": str(tiny_clap), "limits": everything, "gate": None})
    outputs = tagger.describe(batch)

    assert [o.item_id for o in outputs] == ["tone", "corrupt", "noise", "missing"]
    assert [o.ok for o in outputs] == [True, False, True, False]
    assert {(o.stage, o.kind) for o in outputs} == {("clap", "tags")}
    assert "cannot decode" in (outputs[1].error or "")
    assert "audio file missing" in (outputs[3].error or "")
    for output in (outputs[0], outputs[2]):
        assert output.data["windows"] == 1
        assert set(output.data["tags"]) == set(ClapConfig().vocabularies)
        assert output.data["gates"] == {}
        lines = []
        for vocabulary in tagger.vocabularies:
            tags = output.data["tags"][vocabulary.name]
            probabilities = [t["probability"] for t in tags]
            assert len(tags) == vocabulary.top_k
            assert probabilities == sorted(probabilities, reverse=True)
            assert {t["label"] for t in tags} <= set(vocabulary.labels)
            listed = ", ".join(f"{t['label']} ({t['probability']:.2f})" for t in tags)
            lines.append(f"{vocabulary.title}: {listed}")
        assert output.text == "\n".join(lines)


def test_scores_are_probabilities_within_each_vocabulary(tiny_clap: Path, tmp_path: Path) -> None:
    colours = vocabulary_file(tmp_path, "colours", ["red", "green", "blue", "grey"])
    animals = vocabulary_file(
        tmp_path, "animals", ["dog", "cat"], "# template: A {label} makes a noise.\n"
    )
    tagger = ClapTagger(
        {
            "model": str(tiny_clap),
            "vocabularies": [colours, animals],
            "limits": {
                "colours": {"top_k": 4, "threshold": 0.0},
                "animals": {"top_k": 2, "threshold": 0.0},
            },
        }
    )
    [output] = tagger.describe([StageInput("a", tone(1.0))])

    for name, size in (("colours", 4), ("animals", 2)):
        tags = output.data["tags"][name]
        assert len(tags) == size
        assert sum(t["probability"] for t in tags) == pytest.approx(1.0, abs=1e-3)
    # A threshold between the second and third colour keeps exactly two.
    ranked = [t["probability"] for t in output.data["tags"]["colours"]]
    cut = (ranked[1] + ranked[2]) / 2
    assert ranked[1] > ranked[2]
    [fewer] = ClapTagger(
        {
            "model": str(tiny_clap),
            "vocabularies": [colours],
            "limits": {"colours": {"top_k": 4, "threshold": cut}},
        }
    ).describe([StageInput("a", tone(1.0))])
    assert fewer.data["tags"]["colours"] == output.data["tags"]["colours"][:2]

    prompts = ("A dog makes a noise.", "A cat makes a noise.")
    assert load_vocabulary(animals).prompts() == prompts
    assert prompts in tagger.load().text_embeddings


def test_long_clip_is_heard_window_by_window_without_random_crops(tiny_clap: Path) -> None:
    clip = noise(25.0, rate=RATE, seed=3)
    mean = ClapTagger({"model": str(tiny_clap)})
    peak = ClapTagger({"model": str(tiny_clap), "pooling": "max"})

    [first] = mean.describe([StageInput("long", clip)])
    [again] = mean.describe([StageInput("long", clip)])
    [best] = peak.describe([StageInput("long", clip)])
    [shortened] = mean.describe([StageInput("short", noise(20.5, rate=RATE))])

    assert first.data["windows"] == 3 and shortened.data["windows"] == 2
    assert first.data == again.data
    assert best.data["windows"] == 3 and best.data["pooling"] == "max"


def test_batching_does_not_change_tags_and_text_is_embedded_once(
    tiny_clap: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [StageInput(f"clip{i}", tone(1.0 + i, 200.0 * (i + 1))) for i in range(4)]
    one_by_one = ClapTagger({"model": str(tiny_clap), "gate": None}, {"batch_size": 1})
    clap = one_by_one.load()
    calls: list[int] = []
    embed = clap.model.get_text_features

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return embed(*args, **kwargs)

    monkeypatch.setattr(clap.model, "get_text_features", counting)
    clap.text_embeddings.clear()
    together = ClapTagger({"model": str(tiny_clap), "gate": None}, {"batch_size": 4})

    singles = one_by_one.describe(batch)
    batched = together.describe(batch)
    together.describe(batch)

    assert together.load() is clap
    assert len(calls) == len(together.vocabularies)
    for single, joint in zip(singles, batched, strict=True):
        for name, tags in single.data["tags"].items():
            other = joint.data["tags"][name]
            assert [t["label"] for t in tags] == [t["label"] for t in other]
            assert [t["probability"] for t in tags] == pytest.approx(
                [t["probability"] for t in other], abs=1e-3
            )


def test_fused_checkpoint_tags_through_the_same_code(tmp_path: Path) -> None:
    fused = build_tiny_clap(tmp_path / "fused", fused=True)
    [short, long] = ClapTagger({"model": str(fused)}).describe(
        [StageInput("short", tone(2.0)), StageInput("long", noise(12.0))]
    )
    assert short.ok and long.ok
    assert (short.data["windows"], long.data["windows"]) == (1, 2)


def test_identity_keys_labels_and_limits_not_runtime(tiny_clap: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    owls = vocabulary_file(tmp_path / "a", "birds", ["a crow", "an owl"])
    robins = vocabulary_file(tmp_path / "b", "birds", ["a crow", "a robin"])

    def digest(config: dict[str, object], runtime: dict[str, object] | None = None) -> str:
        return ClapTagger({"model": str(tiny_clap), **config}, runtime).identity.digest

    base = digest({"vocabularies": [owls]})
    assert digest({"vocabularies": [owls]}, {"batch_size": 2, "device": "cpu"}) == base
    assert digest({"vocabularies": [robins]}) != base
    assert digest({"vocabularies": [owls], "limits": {"birds": {"top_k": 1}}}) != base
    assert digest({"vocabularies": [owls], "template": "{label} calling."}) != base


def test_nothing_above_the_thresholds_is_said_plainly(tiny_clap: Path) -> None:
    [output] = ClapTagger({"model": str(tiny_clap)}).describe([StageInput("a", tone(1.0))])
    assert output.ok
    assert output.text == "no label reached its threshold"
    assert all(tags == [] for tags in output.data["tags"].values())


def test_music_vocabularies_apply_only_when_music_is_heard(tiny_clap: Path) -> None:
    everything = {name: {"threshold": 0.0} for name in ClapConfig().vocabularies}
    clip = [StageInput("a", tone(1.0))]

    def tag(gate: float) -> dict[str, Any]:
        config = {"model": str(tiny_clap), "limits": everything, "gate": gate}
        [output] = ClapTagger(config).describe(clip)
        return dict(output.data)

    open_, closed = tag(0.0), tag(1.0)
    music = ["music_genres", "instruments", "moods", "tempo"]
    heard = open_["gates"]["tempo"]["probability"]

    assert set(open_["gates"]) == set(closed["gates"]) == set(music)
    assert 0.0 < heard < 1.0
    for name in music:
        assert open_["gates"][name] == {
            "requires": ["music", "singing"],
            "probability": heard,
            "open": True,
        }
        assert open_["tags"][name] and closed["tags"][name] == []
    assert closed["tags"]["sound_events"] == open_["tags"]["sound_events"]


def test_rejects_unknown_vocabularies_and_limits(tiny_clap: Path) -> None:
    with pytest.raises(ConfigError, match="shipped vocabularies: content, instruments, moods"):
        ClapTagger({"model": str(tiny_clap), "vocabularies": ["bird_calls"]})
    with pytest.raises(ConfigError, match=r"limits for unknown vocabularies \['mood'\]"):
        ClapTagger({"model": str(tiny_clap), "limits": {"mood": {"top_k": 1}}})
    with pytest.raises(ConfigError, match="placeholder"):
        ClapTagger({"model": str(tiny_clap), "template": "A sound."})


def test_a_missing_library_names_the_extra_to_install(
    tiny_clap: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    tagger = ClapTagger({"model": str(tiny_clap)}, {"device": "cuda:7"})
    with pytest.raises(MissingExtraError, match=r"pip install -e '\.\[clap\]'"):
        tagger.describe([StageInput("a", tone(1.0))])
