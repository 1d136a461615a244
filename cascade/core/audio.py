"""Audio clips: decoded once per item, resampled per component on demand, hashed by content."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cascade.core.errors import AudioError

Waveform = npt.NDArray[np.float32]


def content_hash(path: Path) -> str:
    """SHA-256 of a file's bytes: the identity of a clip in every cache key."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def decode(path: Path) -> tuple[npt.NDArray[np.float32], int]:
    """Decode any common audio file to float32 samples shaped [frames, channels].

    libsndfile (WAV, FLAC, OGG, MP3) first; PyAV (installed with faster-whisper) for the rest
    (M4A, AAC, video containers).

    Raises:
        AudioError: the file is missing, empty, corrupt or in a format neither decoder reads.
    """
    if not path.is_file():
        raise AudioError(f"audio file missing at {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"audio file is empty: {path}")
    import soundfile as sf

    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as sf_error:  # libsndfile raises its own error types and RuntimeError
        try:
            samples, rate = _decode_with_av(path)
        except ImportError:
            raise AudioError(f"cannot decode {path}: {sf_error}") from None
        except Exception as av_error:
            raise AudioError(f"cannot decode {path}: {sf_error}; {av_error}") from None
    if samples.shape[0] == 0:
        raise AudioError(f"audio file holds no samples: {path}")
    promised = wav_frames_promised(path)
    if promised is not None and promised > samples.shape[0]:
        raise AudioError(
            f"audio file is cut off: {path} promises {promised / rate:.2f} s in its header but "
            f"holds {samples.shape[0] / rate:.2f} s ({samples.shape[0]} of {promised} frames), "
            "so the clip would be described as shorter than it is; copy or download the file "
            "again"
        )
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"audio file holds non-finite samples: {path}")
    return samples, int(rate)


def wav_frames_promised(path: Path) -> int | None:
    """The frames a WAV file's header promises (its `data` chunk's size over the frame size), or
    None for another format or a streamed WAV whose size was never filled in.

    libsndfile quietly reads what is there when a file is cut off, and the standard library's
    `wave` reads only integer PCM headers, so the RIFF chunks are walked here.
    """
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        frame_bytes = 0
        while len(header := f.read(8)) == 8:
            chunk, size = header[:4], int.from_bytes(header[4:], "little")
            if chunk == b"fmt ":
                fmt = f.read(size)
                frame_bytes = int.from_bytes(fmt[12:14], "little")  # the block align
                f.seek(size % 2, 1)  # chunks are padded to an even size
            elif chunk == b"data":
                streamed = size in (0, 0xFFFFFFFF)
                return None if streamed or not frame_bytes else size // frame_bytes
            else:
                f.seek(size + size % 2, 1)
    return None


def _decode_with_av(path: Path) -> tuple[npt.NDArray[np.float32], int]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = int(stream.rate)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = [
            np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1)
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
    if not chunks:
        raise AudioError(f"audio stream holds no samples: {path}")
    return np.concatenate(chunks)[:, None], rate


def resample(samples: Waveform, rate: int, target: int) -> Waveform:
    """Band-limited polyphase resampling of a mono signal."""
    if rate == target:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return np.asarray(resample_poly(samples, target // g, rate // g), dtype=np.float32)


@dataclass
class Clip:
    """One audio file, decoded at most once, with memoised mono versions per sample rate.

    Components ask for what they need (`clip.mono(16000)`); the pipeline builds one Clip per item
    and hands the same object to every stage. Thread-safe, so stages may run concurrently.
    """

    path: Path
    _decoded: tuple[npt.NDArray[np.float32], int] | None = field(default=None, repr=False)
    _mono: dict[int, Waveform] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_array(cls, samples: npt.NDArray[Any], rate: int, path: Path | None = None) -> Clip:
        """A clip from samples in memory ([frames] or [frames, channels])."""
        data = np.asarray(samples, dtype=np.float32)
        if data.ndim == 1:
            data = data[:, None]
        return cls(path=path or Path("<memory>"), _decoded=(data, rate))

    def _load(self) -> tuple[npt.NDArray[np.float32], int]:
        if self._decoded is None:
            self._decoded = decode(self.path)
        return self._decoded

    @property
    def native_rate(self) -> int:
        with self._lock:
            return self._load()[1]

    @property
    def channels(self) -> npt.NDArray[np.float32]:
        """All channels at the native rate, shaped [frames, channels]."""
        with self._lock:
            return self._load()[0]

    @property
    def duration_s(self) -> float:
        with self._lock:
            samples, rate = self._load()
            return float(samples.shape[0] / rate)

    def mono(self, rate: int | None = None) -> Waveform:
        """The clip down-mixed to mono, resampled to `rate` (native rate when None)."""
        with self._lock:
            samples, native = self._load()
            target = rate or native
            if target not in self._mono:
                mixed = np.ascontiguousarray(samples.mean(axis=1, dtype=np.float32))
                self._mono[target] = resample(mixed, native, target)
            return self._mono[target]
