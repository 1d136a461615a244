"""Prompt templates: declared placeholders, strict rendering, and every shipped template parses."""

from __future__ import annotations

from pathlib import Path

import pytest

from cascade.core import PromptError, prompts


def test_every_shipped_prompt_parses() -> None:
    names = prompts.available()
    assert "mcq_cot" in names and "description" in names
    for name in names:
        assert prompts.load(name).name == name


def test_rendering_with_a_missing_or_unknown_placeholder_is_an_error() -> None:
    template = prompts.load("mcq_cot")
    values = {"description": "d", "question": "q", "choices": "(A) x\n(B) y", "letters": "A or B"}
    messages = template.render(**values)
    assert messages[-1].content.endswith("where <letter> is one of A or B.")
    with pytest.raises(PromptError, match=r"missing placeholder\(s\) \['letters'\]"):
        template.render(**{k: v for k, v in values.items() if k != "letters"})
    with pytest.raises(PromptError, match=r"unknown placeholder\(s\) \['extra'\]"):
        template.render(**values, extra="x")


def test_a_template_must_declare_exactly_what_it_uses(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nplaceholders: [question]\nmessages:\n"
        "  - role: user\n    content: ${question} ${choices}\n"
    )
    with pytest.raises(
        PromptError, match=r"declares placeholders \['question'\] but its messages use"
    ):
        prompts.parse(path)


def test_a_dollar_sign_in_a_value_is_kept_verbatim() -> None:
    template = prompts.load("description")
    assert template.render_text(sections="costs $5 and ${x}") == "costs $5 and ${x}"
