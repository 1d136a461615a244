"""The qwen-audio captioner, run for real on tiny random models laid out like the hub's.

No audio-language weights exist on the build machines, so a Qwen2-Audio and an Audio Flamingo 3
are built from small configs with locally made processors (Whisper feature extractor, byte-level
Qwen2 tokenizer with the audio tokens, a chat template) and loaded through the same code as
Qwen/Qwen2-Audio-7B-Instruct and nvidia/audio-flamingo-3-hf. Their captions are gibberish: the
tests check order, shapes, windows, errors, batching and determinism, not words."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from cascade.core import Clip, ConfigError, MissingExtraError, StageInput

pytest.importorskip("torch")
pytest.importorskip("transformers")

from cascade.captioners.qwen_audio import Generation, QwenAudioCaptioner, QwenAudioConfig, Request

RATE = 16000
AUDIO_PLACEHOLDER = {
    "qwen2_audio": "Audio {{ n.audio }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n",
    "audioflamingo3": "<sound>",
}
AUDIO_TOKEN = {"qwen2_audio": "<|AUDIO|>", "audioflamingo3": "<sound>"}
SPECIAL_TOKENS = {
    "qwen2_audio": ["<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"],
    "audioflamingo3": ["<|im_start|>", "<|im_end|>", "<sound>"],
}


def chat_template(family: str) -> str:
    return (
        "{% set n = namespace(audio=0) %}"
        "{% for message in messages %}"
        "{% if loop.first and message['role'] != 'system' %}"
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
        "<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for part in message['content'] %}"
        "{% if part['type'] == 'audio' %}{% set n.audio = n.audio + 1 %}"
        f"{AUDIO_PLACEHOLDER[family]}"
        "{% else %}{{ part['text'] }}{% endif %}"
        "{% endfor %}{% endif %}<|im_end|>\n"
        "{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


# transformers 5 writes these models' weights under its new module names; the hub checkpoints
# (and vLLM's loaders) use the original ones, so the tiny models are saved in the original layout.
HUB_LAYOUT = [
    ("model.language_model.", "language_model.model."),
    ("lm_head.", "language_model.lm_head."),
    ("model.audio_tower.", "audio_tower."),
    ("model.multi_modal_projector.", "multi_modal_projector."),
]


def build_tiny_model(folder: Path, family: str = "qwen2_audio") -> Path:
    """Save a random Qwen2-Audio or Audio Flamingo 3: 2-layer audio tower (width 32) and language
    model (width 64; vLLM's CPU attention needs heads of at least 32)."""
    import torch
    import transformers
    from safetensors.torch import save_file
    from tokenizers import pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {"<|endoftext|>": 0, **{char: i + 1 for i, char in enumerate(alphabet)}}
    tokenizer = transformers.Qwen2Tokenizer(
        vocab=vocab, merges=[], extra_special_tokens=SPECIAL_TOKENS[family]
    )
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    audio_token = tokenizer.convert_tokens_to_ids(AUDIO_TOKEN[family])
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 4096,
        "eos_token_id": end,
        "pad_token_id": 0,
    }
    extractor = transformers.WhisperFeatureExtractor(feature_size=128)
    if family == "qwen2_audio":
        processor_class, model_class = "Qwen2AudioProcessor", "Qwen2AudioForConditionalGeneration"
        config = transformers.Qwen2AudioConfig(
            audio_config={
                "d_model": 32,
                "encoder_layers": 2,
                "encoder_attention_heads": 2,
                "encoder_ffn_dim": 64,
            },
            text_config=text,
            audio_token_index=audio_token,
        )
    else:
        processor_class = "AudioFlamingo3Processor"
        model_class = "AudioFlamingo3ForConditionalGeneration"
        config = transformers.AudioFlamingo3Config(
            audio_config={
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "intermediate_size": 64,
            },
            text_config=text,
            audio_token_id=audio_token,
        )
    processor = getattr(transformers, processor_class)(
        feature_extractor=extractor, tokenizer=tokenizer, chat_template=chat_template(family)
    )
    processor.save_pretrained(folder)
    torch.manual_seed(0)
    model = getattr(transformers, model_class)(config)
    model.config.architectures = [model_class]
    model.config.save_pretrained(folder)
    model.generation_config.eos_token_id = [end, 0]
    model.generation_config.save_pretrained(folder)

    def hub_name(key: str) -> str:
        for new, old in HUB_LAYOUT:
            if key.startswith(new):
                return old + key[len(new) :]
        raise KeyError(key)

    weights = {hub_name(k): v.contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2-audio"))


@pytest.fixture(scope="module")
def tiny_af3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-audioflamingo3"), "audioflamingo3")


@pytest.fixture(params=["qwen2_audio", "audioflamingo3"])
def any_model(request: pytest.FixtureRequest) -> Path:
    fixture = "tiny_model" if request.param == "qwen2_audio" else "tiny_af3"
    return Path(request.getfixturevalue(fixture))


def tone(seconds: float, frequency: float = 440.0) -> Clip:
    t = np.arange(int(seconds * RATE)) / RATE
    return Clip.from_array(0.3 * np.sin(2 * np.pi * frequency * t), RATE)


def noise(seconds: float, rate: int = 44100, seed: int = 1) -> Clip:
    samples = 0.1 * np.random.default_rng(seed).standard_normal((int(seconds * rate), 2))
    return Clip.from_array(samples, rate)


def corrupt(folder: Path) -> Clip:
    path = folder / "corrupt.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    return Clip(path=path)


def captioner(model: Path, **config: object) -> QwenAudioCaptioner:
    return QwenAudioCaptioner({"model": str(model), "max_new_tokens": 6, **config})


def test_captions_every_clip_in_order_and_records_unreadable_clips(
    any_model: Path, tmp_path: Path
) -> None:
    batch = [
        StageInput("tone", tone(2.0)),
        StageInput("corrupt", corrupt(tmp_path)),
        StageInput("noise", noise(7.0)),
        StageInput("missing", Clip(path=tmp_path / "missing.flac")),
        StageInput("blip", tone(0.01)),
    ]
    outputs = captioner(any_model).describe(batch)

    assert [o.item_id for o in outputs] == ["tone", "corrupt", "noise", "missing", "blip"]
    assert [o.ok for o in outputs] == [True, False, True, False, False]
    assert outputs[4].error == "clip lasts 0.010 s, too short to caption"
    assert {o.stage for o in outputs} == {"qwen-audio"}
    assert {o.kind for o in outputs} == {"caption"}
    assert "cannot decode" in (outputs[1].error or "")
    assert "audio file missing" in (outputs[3].error or "")
    for output, seconds in ((outputs[0], 2.0), (outputs[2], 7.0)):
        assert output.text and output.text == output.data["windows"][0]["text"]
        assert output.data["seconds_heard"] == seconds
        assert output.data["model"] == str(any_model)
        assert output.data["backend"] == "transformers"
        assert 1 <= output.data["windows"][0]["tokens"] <= 6


def test_batching_and_repeats_do_not_change_greedy_captions(
    any_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [StageInput(f"clip{i}", tone(1.0 + i, 220.0 * (i + 1))) for i in range(3)]
    batched = QwenAudioCaptioner({"model": str(any_model), "max_new_tokens": 6}, {"batch_size": 3})
    backend = batched.load()
    generate = backend.generate
    calls: list[tuple[int, bool]] = []

    def recording(requests: Sequence[Request], config: QwenAudioConfig) -> list[Generation]:
        try:
            result = generate(requests, config)
        except Exception:
            calls.append((len(requests), False))
            raise
        calls.append((len(requests), True))
        return result

    monkeypatch.setattr(backend, "generate", recording)
    together = batched.describe(batch)
    single = QwenAudioCaptioner(
        {"model": str(any_model), "max_new_tokens": 6}, {"batch_size": 1}
    ).describe(batch)
    again = batched.describe(batch)

    # One padded batch of three really ran (no fallback to one-by-one), and agreed with singles.
    assert calls == [(3, True), (1, True), (1, True), (1, True), (3, True)]
    assert [o.text for o in together] == [o.text for o in single] == [o.text for o in again]


def test_long_clip_is_captioned_window_by_window(tiny_model: Path) -> None:
    clip = tone(65.0)
    [windows] = captioner(tiny_model).describe([StageInput("long", clip)])
    [first] = captioner(tiny_model, long_audio="first-window").describe([StageInput("long", clip)])

    spans = [(w["start_s"], w["end_s"]) for w in windows.data["windows"]]
    assert spans == [(0.0, 30.0), (30.0, 60.0), (60.0, 65.0)]
    assert windows.data["seconds_heard"] == 65.0
    captions = [w["text"] for w in windows.data["windows"]]
    assert windows.text == (
        f"[0:00-0:30] {captions[0]}\n[0:30-1:00] {captions[1]}\n[1:00-1:05] {captions[2]}"
    )
    assert [(w["start_s"], w["end_s"]) for w in first.data["windows"]] == [(0.0, 30.0)]
    assert first.data["seconds_heard"] == 30.0 and first.data["duration_s"] == 65.0
    assert first.text == f"[0:00-0:30 of 1:05] {first.data['windows'][0]['text']}"


def test_audio_flamingo_hears_a_long_clip_in_one_prompt(tiny_af3: Path) -> None:
    [output] = captioner(tiny_af3).describe([StageInput("long", tone(65.0))])

    assert [(w["start_s"], w["end_s"]) for w in output.data["windows"]] == [(0.0, 65.0)]
    assert output.text == output.data["windows"][0]["text"]
    assert output.data["seconds_heard"] == output.data["duration_s"] == 65.0


def test_caption_cut_at_the_token_limit_is_flagged(tiny_model: Path) -> None:
    [output] = captioner(tiny_model, max_new_tokens=4).describe([StageInput("a", tone(1.0))])
    [window] = output.data["windows"]
    assert (window["finish_reason"], window["tokens"]) == ("length", 4)
    assert output.data["truncated"] is True


def test_sampling_is_reproducible_from_its_seed(tiny_model: Path) -> None:
    batch = [StageInput("a", tone(1.0)), StageInput("b", tone(2.0, 330.0))]

    def sample(seed: int) -> list[str]:
        outputs = captioner(tiny_model, temperature=1.5, seed=seed).describe(batch)
        return [o.text if o.ok else o.error or "" for o in outputs]

    first = sample(0)
    assert sample(0) == first
    assert sample(1) != first
    greedy = [o.text for o in captioner(tiny_model).describe(batch)]
    assert greedy != first


def test_question_conditioned_prompt_holds_the_question_after_the_audio(
    tiny_model: Path,
) -> None:
    plain = captioner(tiny_model)
    focused = captioner(tiny_model, prompt="caption_question")
    item = StageInput("q", tone(1.0), "How many beeps?", ("two", "three"))

    assert not plain.conditions_on_question
    assert focused.conditions_on_question
    prompt = focused.render_prompt(item)
    assert prompt.startswith("<|im_start|>system\n")
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.index("<|audio_bos|><|AUDIO|><|audio_eos|>") < prompt.index("How many beeps?")
    assert "- two\n- three" in prompt
    assert "How many beeps?" not in plain.render_prompt(item)
    [output] = focused.describe([item])
    assert output.ok and output.data["prompt"] == "caption_question"


def test_identity_keys_config_and_prompt_text_but_not_how_it_runs(
    tiny_model: Path, tmp_path: Path
) -> None:
    base = captioner(tiny_model)
    other_runtime = QwenAudioCaptioner(base.config, {"batch_size": 1, "max_model_len": 1024})
    prompt_file = tmp_path / "caption.yaml"
    prompt_file.write_text(
        "name: caption\nversion: 1\nmessages:\n  - role: user\n    content: Describe it.\n"
    )
    other_prompt_text = captioner(tiny_model, prompt=str(prompt_file))

    assert base.identity.digest == other_runtime.identity.digest
    assert base.identity.digest != other_prompt_text.identity.digest
    assert base.identity.digest != captioner(tiny_model, max_new_tokens=7).identity.digest


def test_model_loads_once_per_process(tiny_model: Path) -> None:
    first, second = captioner(tiny_model), captioner(tiny_model, prompt="caption_question")
    loaded = first.load()
    assert second.load() is loaded
    assert QwenAudioCaptioner(first.config, {"batch_size": 2}).load() is loaded
    other_dtype = QwenAudioCaptioner(first.config, {"dtype": "bfloat16"})
    assert other_dtype.load() is not loaded
    other_dtype.close()
    first.close()
    reloaded = second.load()
    assert reloaded is not loaded and first.load() is reloaded


def test_rejects_prompts_it_cannot_fill_and_models_it_does_not_support(
    tiny_model: Path, tmp_path: Path
) -> None:
    prompt_file = tmp_path / "odd.yaml"
    prompt_file.write_text(
        "name: odd\nversion: 1\nplaceholders: [transcript]\n"
        "messages:\n  - role: user\n    content: Describe ${transcript}.\n"
    )
    with pytest.raises(ConfigError, match="may only use"):
        captioner(tiny_model, prompt=str(prompt_file))

    text_only = tmp_path / "text-only"
    text_only.mkdir()
    (text_only / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(ConfigError, match="supported model types: audioflamingo3, qwen2_audio"):
        captioner(text_only).describe([StageInput("a", tone(1.0))])


def test_a_missing_backend_library_names_the_extra_to_install(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    vllm_captioner = QwenAudioCaptioner({"model": str(tiny_model)}, {"backend": "vllm"})
    with pytest.raises(MissingExtraError, match=r"pip install -e '\.\[vllm\]'"):
        vllm_captioner.describe([StageInput("a", tone(1.0))])


VLLM_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import numpy as np

    from cascade.captioners.qwen_audio import (
        Generation,
        QwenAudioCaptioner,
        QwenAudioConfig,
        Request,
    )
    from cascade.core import Clip, StageInput


    def main() -> None:
        model, folder = sys.argv[1], Path(sys.argv[2])
        t = np.arange(16000 * 40) / 16000
        noise = np.random.default_rng(0).normal(0, 0.1, 48000)
        bad = folder / "bad.wav"
        bad.write_bytes(b"not audio")
        batch = [
            StageInput("tone", Clip.from_array(0.3 * np.sin(2 * np.pi * 440 * t[:32000]), 16000)),
            StageInput("bad", Clip(path=bad)),
            StageInput("long", Clip.from_array(0.3 * np.sin(2 * np.pi * 660 * t), 16000)),
            StageInput("noise", Clip.from_array(noise, 48000)),
            StageInput("blip", Clip.from_array(np.zeros(160), 16000)),
        ]
        captioner = QwenAudioCaptioner(
            {"model": model, "max_new_tokens": 6},
            {"backend": "vllm", "enforce_eager": True, "kv_cache_bytes": "64MiB",
             "max_model_len": 2048, "batch_size": 4},
        )
        first = captioner.describe(batch)
        second = captioner.describe(batch[::-1])
        print("RESULT " + json.dumps({
            "first": [o.to_json() for o in first],
            "second": [o.to_json() for o in second],
        }))


    if __name__ == "__main__":
        main()
    """
)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_vllm_backend_captions_a_batch_in_order(any_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("vllm")
    script = tmp_path / "run_vllm.py"
    script.write_text(VLLM_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(any_model), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=540,
        cwd=Path(__file__).resolve().parents[1],
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    first, second = result["first"], result["second"]

    assert [o["item_id"] for o in first] == ["tone", "bad", "long", "noise", "blip"]
    assert "cannot decode" in first[1]["error"]
    assert first[4]["error"] == "clip lasts 0.010 s, too short to caption"
    heard = [o for o in first if o["error"] is None]
    # A random model may emit only whitespace, which is recorded as an empty caption (an error).
    assert all(
        o["text"] or "returned an empty caption" in o["error"] for o in first[:1] + first[2:4]
    )
    assert heard  # which of a random model's captions are only whitespace depends on its weights
    assert all(o["data"]["backend"] == "vllm" for o in heard)
    long = first[2]["data"].get("windows") or []
    family = json.loads((any_model / "config.json").read_text())["model_type"]
    spans = [(0.0, 30.0), (30.0, 40.0)] if family == "qwen2_audio" else [(0.0, 40.0)]
    assert not long or [(w["start_s"], w["end_s"]) for w in long] == spans
    # Greedy captions do not depend on the batch's order or on being asked twice.
    assert second[::-1] == first
