"""A non-editable install ships prompts, configs and benchmark data inside the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # The build backend comes from the test extra (no build isolation: no index needed).
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    built = subprocess.run(
        [*command, "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    return next(out.glob("*.whl"))


def test_wheel_holds_prompts_configs_and_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for prompt in (ROOT / "prompts").glob("*.yaml"):
        assert f"cascade/_shipped/prompts/{prompt.name}" in names
    for config in (ROOT / "configs").rglob("*.yaml"):
        assert f"cascade/_shipped/configs/{config.relative_to(ROOT / 'configs')}" in names
    assert "cascade/data/mmar/MMAR-meta.jsonl" in names
    assert "cascade/data/mmau/mmau-test-mini.json" in names
    assert "cascade/data/weights.sha256" in names
    assert any(n.startswith("captioners/") for n in names)
    assert any(n.startswith("reasoners/") for n in names)


def test_installed_wheel_finds_its_prompts_and_configs(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = (
        "import cascade.core.resources as r, cascade.core.prompts as p\n"
        "import cascade.core.benchmarks as b\n"
        "print(r.shipped_dir('prompts')); print(r.shipped_dir('configs'))\n"
        "print(p.load('mcq_cot').name)\n"
        "print(len(b.load_mmar(b.BenchmarkSpec(name='mmar'), need_audio=False).items))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r})\n{code}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.splitlines()
    assert out[0] == str(target / "cascade" / "_shipped" / "prompts")
    assert out[1] == str(target / "cascade" / "_shipped" / "configs")
    assert out[2:] == ["mcq_cot", "1000"]
