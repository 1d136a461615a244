"""One cache of loaded models per process (`load_once`): an object is loaded once per key and
shared; a slot holds one object at a time, so loading another key into it releases the one it
holds first (two large engines never sit in memory together)."""

from __future__ import annotations

from cascade.core import forget, free_slot, load_once


def test_a_key_loads_once() -> None:
    loads: list[str] = []
    try:
        first = load_once(("test-cache", "a"), lambda: loads.append("a") or object())
        again = load_once(("test-cache", "a"), lambda: loads.append("a") or object())
        assert again is first and loads == ["a"]
    finally:
        forget(("test-cache", "a"))


def test_a_slot_releases_what_it_holds_before_loading_another_key() -> None:
    events: list[str] = []

    def load(name: str) -> str:
        events.append(f"load {name}")
        return name

    def stop(name: str) -> None:
        events.append(f"release {name}")

    try:
        load_once("a", lambda: load("a"), slot="test-slot", release=stop)
        load_once("a", lambda: load("a"), slot="test-slot", release=stop)
        load_once("b", lambda: load("b"), slot="test-slot", release=stop)
        assert events == ["load a", "release a", "load b"]
        free_slot("test-slot")
        assert events[-1] == "release b"
        load_once("a", lambda: load("a"), slot="test-slot", release=stop)
        assert events[-1] == "load a"
    finally:
        free_slot("test-slot")
