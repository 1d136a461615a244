"""The `transformers` reasoner on a tiny random model built on the spot, and on SmolLM2 (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cascade.reasoners.transformers_lm import TransformersReasoner

from cascade.core import ChatMessage, ChatRequest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = "the a tone is high low loud quiet answer which one choice music speech sound yes no"
CHAT = (
    "{% for m in messages %}<|im_start|> {{ m.role }} {{ m.content }} <|im_end|> {% endfor %}"
    "{% if add_generation_prompt %}<|im_start|> assistant {% endif %}"
)
THINKING_CHAT = CHAT.replace("assistant {% endif %}", "assistant <think> {% endif %}")


def tiny_model(folder: Path, chat_template: str = CHAT) -> Path:
    """A 2-layer random Llama with a word-level tokenizer and a chat template, saved to `folder`."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    specials = ["[UNK]", "<pad>", "<eos>", "<|im_start|>", "<|im_end|>", "<think>"]
    vocab = {token: i for i, token in enumerate([*specials, *WORDS.split()])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="<pad>",
        eos_token="<eos>",
        chat_template=chat_template,
    )
    config = transformers.LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        pad_token_id=1,
        eos_token_id=2,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def ask(item_id: str, text: str, sample_index: int = 0) -> ChatRequest:
    return ChatRequest(item_id, (ChatMessage("user", text),), sample_index)


REQUESTS = [
    ask("short", "which one"),
    ask("long", "the tone is high and loud which one is the answer music or speech or sound"),
    ask("mid", "is the music quiet yes or no"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def test_batched_left_padded_generation_equals_one_by_one(tiny: Path) -> None:
    config = {"model": str(tiny), "max_tokens": 6}
    batched = TransformersReasoner(config, {"device": "cpu", "batch_size": 8}).generate(REQUESTS)
    single = TransformersReasoner(config, {"device": "cpu", "batch_size": 1}).generate(REQUESTS)
    assert [r.text for r in batched] == [r.text for r in single]
    assert [r.prompt_tokens for r in batched] == [r.prompt_tokens for r in single]
    assert [r.prompt_tokens for r in batched] == [7, 21, 12]
    for response in batched:
        assert response.ok and response.finish_reason in ("stop", "length")
        assert response.completion_tokens is not None and 1 <= response.completion_tokens <= 6
        if response.finish_reason == "length":
            assert response.completion_tokens == 6


def test_greedy_is_deterministic_and_budget_is_a_length_stop(tiny: Path) -> None:
    config = {"model": str(tiny), "max_tokens": 1}
    first = TransformersReasoner(config, {"device": "cpu"}).generate(REQUESTS)
    again = TransformersReasoner(config, {"device": "cpu"}).generate(REQUESTS)
    assert [r.text for r in first] == [r.text for r in again]
    assert all(r.truncated or r.completion_tokens == 1 for r in first)


def test_a_template_that_opens_thinking_never_leaks_the_trace_as_answer(tmp_path: Path) -> None:
    folder = tiny_model(tmp_path / "thinking", THINKING_CHAT)
    (response,) = TransformersReasoner({"model": str(folder), "max_tokens": 4}).generate(
        [REQUESTS[0]]
    )
    # The vocabulary has no </think>: the model can never close the trace, so no answer exists.
    assert response.text == ""
    assert response.finish_reason in ("stop", "length")


@pytest.mark.slow
def test_smollm2_answers_simple_questions_on_cpu() -> None:
    reasoner = TransformersReasoner(
        {"model": "smollm2-135m-instruct", "max_tokens": 32}, {"device": "cpu", "batch_size": 4}
    )
    responses = reasoner.generate(
        [
            ask("capital", "What is the capital of France? Answer in one word."),
            ask("count", "Count from 1 to 100, separated by commas."),
        ]
    )
    capital, count = responses
    assert capital.ok and "Paris" in capital.text and capital.finish_reason == "stop"
    assert count.ok and count.truncated and count.completion_tokens == 32
    assert count.text.startswith("1, 2, 3")
