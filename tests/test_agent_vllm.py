"""The `vllm` reasoner's native tool calls: the tools go to the engine's chat (its chat template
renders them) and the calls are read from the generated text by vLLM's own `hermes` parser (the
format of Qwen2.5 and Qwen3). A tiny random model never writes a call, so the engine here
returns scripted model text; everything after it is the reasoner's real code."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from cascade.core import ChatMessage, ChatRequest, ComponentError, tool_schema
from cascade.run.config import agent_protocol, validate

pytest.importorskip("vllm.tool_parsers")
pytest.importorskip("tokenizers")

from reasoners.vllm_offline import VllmReasoner

TOOLS = (tool_schema("asr", False).to_openai(), tool_schema("caption", True).to_openai())
HERMES = (
    "I need the words first.\n"
    '<tool_call>\n{"name": "transcribe", "arguments": {"start_s": 1.5, "end_s": 4}}\n</tool_call>\n'
    '<tool_call>\n{"name": "ask_audio", "arguments": {"question": "Who speaks?"}}\n</tool_call>'
)


def tokenizer() -> Any:
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<tool_call>": 1, "</tool_call>": 2}
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    )


@dataclass
class Completion:
    text: str
    finish_reason: str = "stop"
    token_ids: tuple[int, ...] = (1, 2, 3)


@dataclass
class Output:
    outputs: list[Completion]
    prompt: str = "<|im_start|>assistant\n"
    prompt_token_ids: tuple[int, ...] = (1,) * 10


@dataclass
class ScriptedEngine:
    """vLLM's `LLM` as far as the reasoner uses it, generating the scripted texts."""

    texts: list[str]
    chats: list[dict[str, Any]] = field(default_factory=list)

    def chat(self, messages: list[Any], params: list[Any], **options: Any) -> list[Output]:
        self.chats.append({"messages": messages, **options})
        return [Output([Completion(self.texts.pop(0))]) for _ in messages]

    def get_tokenizer(self) -> Any:
        return tokenizer()


def reasoner(engine: ScriptedEngine, parser: str | None = "hermes") -> VllmReasoner:
    built = VllmReasoner(config={"model": "Qwen/Qwen2.5-7B-Instruct", "tool_parser": parser})
    built.llm = lambda: engine  # type: ignore[method-assign]
    return built


def test_hermes_calls_are_read_from_the_model_text() -> None:
    engine = ScriptedEngine([HERMES])
    request = ChatRequest("item", (ChatMessage("user", "Question?"),), tools=TOOLS)
    (response,) = reasoner(engine).generate([request])
    assert response.ok and response.text == "I need the words first."
    assert [(c.name, json.loads(c.arguments)) for c in response.tool_calls] == [
        ("transcribe", {"start_s": 1.5, "end_s": 4}),
        ("ask_audio", {"question": "Who speaks?"}),
    ]
    assert engine.chats[0]["tools"] == [dict(t) for t in TOOLS]  # rendered by the template


def test_a_conversation_with_calls_reaches_the_chat_template_in_openai_form() -> None:
    engine = ScriptedEngine(["It is Anna.\nANSWER: B"])
    calls = (
        reasoner(ScriptedEngine([HERMES]))
        .generate([ChatRequest("item", (ChatMessage("user", "Q?"),), tools=TOOLS)])[0]
        .tool_calls
    )
    messages = (
        ChatMessage("user", "Q?"),
        ChatMessage("assistant", "", tool_calls=calls),
        ChatMessage("tool", "<transcript>\nhello\n</transcript>", tool_call_id=calls[0].id),
    )
    (response,) = reasoner(engine).generate([ChatRequest("item", messages, tools=TOOLS)])
    assert response.text.endswith("ANSWER: B") and not response.tool_calls
    sent = engine.chats[0]["messages"][0]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "transcribe"
    assert sent[2] == {
        "role": "tool",
        "content": "<transcript>\nhello\n</transcript>",
        "tool_call_id": calls[0].id,
    }


def test_text_without_a_call_is_a_final_answer() -> None:
    engine = ScriptedEngine(["No call needed.\nANSWER: A"])
    request = ChatRequest("item", (ChatMessage("user", "Q?"),), tools=TOOLS)
    (response,) = reasoner(engine).generate([request])
    assert response.text == "No call needed.\nANSWER: A" and response.tool_calls == ()


def test_an_unknown_parser_names_those_there_are() -> None:
    engine = ScriptedEngine([HERMES])
    request = ChatRequest("item", (ChatMessage("user", "Q?"),), tools=TOOLS)
    with pytest.raises(ComponentError, match="hermes"):
        reasoner(engine, parser="no-such-parser").generate([request])


def test_the_protocol_follows_the_parser() -> None:
    base = {
        "name": "x",
        "benchmark": {"name": "demo"},
        "agent": {"tools": ["signal"]},
    }
    with_parser = validate(
        base | {"reasoner": {"name": "vllm", "config": {"tool_parser": "hermes"}}}
    )
    without = validate(base | {"reasoner": {"name": "vllm"}})
    assert agent_protocol(with_parser) == "native" and agent_protocol(without) == "text"
    assert (
        with_parser.fingerprint()
        != validate(
            base
            | {
                "reasoner": {"name": "vllm", "config": {"tool_parser": "hermes"}},
                "agent": {"tools": ["signal"], "protocol": "text"},
            }
        ).fingerprint()
    )
