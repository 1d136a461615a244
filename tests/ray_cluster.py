"""A local Ray cluster for the tests of the Ray executor, started once per test session.

Without `ray` installed the tests that use it are skipped, except in CI (the `CI` environment
variable set), where they fail: CI installs the `ray` extra and must run them.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cascade

CHECKOUT = Path(cascade.__file__).resolve().parent.parent
"""The folder holding the `cascade` these tests import (a worktree, or the installed checkout)."""

INSTALL = "bash scripts/setup.sh --test"


def import_ray() -> Any:
    """The `ray` module; skips the test when it is missing (fails it in CI)."""
    try:
        import ray
        import ray.data
    except ImportError:
        reason = f"ray is not installed (the `ray` extra): {INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the Ray tests", pytrace=False)
        pytest.skip(reason)
    return ray


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A local Ray cluster of 2 CPUs (the `ray` module, initialised), shut down after the session.

    Its processes inherit this process's environment, with this checkout first on PYTHONPATH, so
    that the workers import the same `cascade` as the tests (not another installed copy).
    """
    ray = import_ray()
    # Ray's Unix sockets live under its temp folder, and a socket path may not exceed 107 bytes:
    # a short folder of its own (pytest's tmp_path is too long), not the /tmp/ray every user shares.
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "RAY_USAGE_STATS_ENABLED")}
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(CHECKOUT), *filter(None, [saved["PYTHONPATH"]])]
    )
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        ray.init(
            address="local",  # never attach to a cluster someone started on this machine
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=256 * 1024**2,
            logging_level=logging.WARNING,
            log_to_driver=False,
            _temp_dir=temp,
        )
        ray.data.DataContext.get_current().enable_progress_bars = False
        yield ray
    finally:
        ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(temp, ignore_errors=True)
