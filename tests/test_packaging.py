"""A non-editable install ships prompts, configs and benchmark data inside the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cascade.core import registry

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
    assert "cascade/core/benchmarks/mmar/MMAR-meta.jsonl" in names
    assert "cascade/core/benchmarks/mmau_test_mini/mmau-test-mini.json" in names
    assert "cascade/core/benchmarks/demo/meta.jsonl" in names
    for clip in (ROOT / "cascade" / "core" / "benchmarks" / "demo" / "audio").iterdir():
        assert f"cascade/core/benchmarks/demo/audio/{clip.name}" in names
    assert "cascade/data/weights.sha256" in names
    for folder in ("captioners", "reasoners"):
        for module in (ROOT / folder).glob("*.py"):
            assert f"cascade/{folder}/{module.name}" in names
    assert "cascade/captioners/vocabularies/moods.txt" in names
    templates = ROOT / "cascade" / "report" / "html" / "templates"
    assert sorted(templates.iterdir())  # the pages' templates, stylesheet and script
    for template in templates.iterdir():
        assert f"cascade/report/html/templates/{template.name}" in names
    # Only `cascade` goes into site-packages: no generic top-level package another project
    # could also install.
    assert {n.split("/")[0] for n in names if not n.startswith("cascade_eval-")} == {"cascade"}


def test_installed_wheel_imports_every_registered_component_from_itself(
    wheel: Path, tmp_path: Path
) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = (
        "import importlib, inspect\n"
        "from cascade.core import registry\n"
        "for table in registry.TABLES.values():\n"
        "    for entry in table.values():\n"
        "        module = importlib.import_module(entry.target.partition(':')[0])\n"
        "        print(inspect.getfile(module))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r})\n{code}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.splitlines()
    assert len(out) == sum(len(t) for t in registry.TABLES.values())
    assert all(Path(f).is_relative_to(target / "cascade") for f in out), out
    assert str(target / "cascade" / "captioners" / "whisper.py") in out
    assert str(target / "cascade" / "reasoners" / "vllm_offline.py") in out


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
        "mmar = b.benchmark_by_name('mmar')\n"
        "print(len(mmar.load(b.BenchmarkSpec(name='mmar'), need_audio=False).items))\n"
        "import cascade.report.html.render as h\n"
        "print(h.TEMPLATES)\n"
        "print('<h1>x &lt;b&gt;</h1>' in h.render('base.html.j2', title='x <b>', subtitle='',"
        " scorer='strict'))\n"
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
    assert out[2:4] == ["mcq_cot", "1000"]
    assert out[4:] == [str(target / "cascade" / "report" / "html" / "templates"), "True"]
