"""Versioned prompt templates from `prompts/`: loading, checking and strict rendering.

A template is a YAML file naming its placeholders and holding chat messages whose text uses
`${placeholder}`. Loading checks that the messages use exactly the declared placeholders; rendering
with a missing or unknown value is an error, never a silent blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from cascade.core.components import digest
from cascade.core.errors import PromptError
from cascade.core.records import ChatMessage
from cascade.core.resources import shipped_dir
from cascade.core.textfiles import read_yaml_mapping

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    placeholders: tuple[str, ...]
    messages: tuple[tuple[str, Template], ...]
    summary: str = ""
    options: Mapping[str, Any] | None = None
    """Free-form settings the template's users read (e.g. the answer format it asks for)."""

    def render(self, **values: str) -> tuple[ChatMessage, ...]:
        """The chat messages with every placeholder filled."""
        given, declared = set(values), set(self.placeholders)
        if given != declared:
            missing, unknown = sorted(declared - given), sorted(given - declared)
            raise PromptError(
                f"prompt {self.name!r} v{self.version}: missing placeholder(s) {missing}, "
                f"unknown placeholder(s) {unknown}"
            )
        return tuple(
            ChatMessage(role=role, content=template.substitute(values))  # type: ignore[arg-type]
            for role, template in self.messages
        )

    def render_text(self, **values: str) -> str:
        """A single-message template rendered to plain text (description layouts, captions)."""
        messages = self.render(**values)
        if len(messages) != 1:
            raise PromptError(f"prompt {self.name!r} has {len(messages)} messages, not one")
        return messages[0].content

    @property
    def digest(self) -> str:
        """Hash of the template's content (what a cache or run directory must follow)."""
        return digest([self.name, self.version, [(role, t.template) for role, t in self.messages]])

    def option(self, key: str, default: Any = None) -> Any:
        return (self.options or {}).get(key, default)


def parse(path: Path) -> PromptTemplate:
    """Read and check one template file."""
    raw = read_yaml_mapping(path, kind="prompt template", error=PromptError)
    known = {"name", "version", "summary", "placeholders", "messages", "options"}
    if unknown := sorted(set(raw) - known):
        raise PromptError(f"prompt file {path}: unknown key(s) {unknown}")
    name = raw.get("name")
    if name != path.stem:
        raise PromptError(f"prompt file {path}: name {name!r} must match the file name")
    placeholders = tuple(raw.get("placeholders") or ())
    messages: list[tuple[str, Template]] = []
    for message in raw.get("messages") or ():
        role, content = message.get("role"), message.get("content")
        if role not in ROLES or not isinstance(content, str):
            raise PromptError(f"prompt {name!r}: each message needs a role {ROLES} and content")
        template = Template(content)
        if not template.is_valid():
            raise PromptError(f"prompt {name!r}: malformed ${{placeholder}} in a {role} message")
        messages.append((role, template))
    if not messages:
        raise PromptError(f"prompt {name!r}: no messages")
    used = {ident for _, t in messages for ident in t.get_identifiers()}
    if used != set(placeholders):
        raise PromptError(
            f"prompt {name!r}: declares placeholders {sorted(placeholders)} "
            f"but its messages use {sorted(used)}"
        )
    return PromptTemplate(
        name=name,
        version=int(raw.get("version", 1)),
        placeholders=placeholders,
        messages=tuple(messages),
        summary=str(raw.get("summary", "")),
        options=raw.get("options") or {},
    )


def available() -> dict[str, Path]:
    """Every shipped template, by name."""
    return {p.stem: p for p in sorted(shipped_dir("prompts").glob("*.yaml"))}


@cache
def load(name_or_path: str) -> PromptTemplate:
    """A shipped template by name, or any template file by path."""
    path = Path(name_or_path)
    if path.suffix == ".yaml" and path.is_file():
        return parse(path)
    templates = available()
    if name_or_path not in templates:
        raise PromptError(
            f"no prompt named {name_or_path!r}; shipped prompts: {', '.join(sorted(templates))}"
        )
    return parse(templates[name_or_path])
