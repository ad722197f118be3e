"""Robust loading of one clip: any sample rate, channel count, bit depth; WAV, FLAC, OGG or MP3
(what the installed libsndfile decodes: MP3 from libsndfile 1.1, which soundfile 0.12+ ships).

Every clip leaves here as float32 mono at the AudioConfig rate and exactly
`config.n_samples` long, or raises AudioLoadError naming the file and what is wrong.
"""

import dataclasses
import os
import struct

import librosa
import numpy as np
import soundfile as sf

from ..config import AudioConfig


class AudioLoadError(Exception):
    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclasses.dataclass(frozen=True)
class Header:
    """What a file's header says, read without decoding its audio."""

    sample_rate: int
    frames: int  # the frames the file holds
    promised_frames: int | None = None  # a WAV header's promise (its data chunk's size), where it makes one

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    @property
    def truncated(self) -> bool:
        """The header promises more audio than the file holds (a cut download or copy)."""
        return self.promised_frames is not None and self.promised_frames > self.frames

    def note(self) -> str | None:
        """What a person should know about a file that loads: cut short, or hardly any audio."""
        if self.truncated:
            return (
                f"truncated: its header promises {self.promised_frames / self.sample_rate:.2f} s, "
                f"the file holds {self.seconds:.2f} s"
            )
        return None


def read_header(path) -> Header:
    """The header of a file that looks loadable; AudioLoadError naming the reason otherwise."""
    try:
        info = sf.info(str(path))
    except Exception as error:  # libsndfile raises several types for broken headers
        raise AudioLoadError(path, _reason(path, error)) from None
    if info.frames == 0:
        raise AudioLoadError(path, "the file holds no audio samples")
    return Header(int(info.samplerate), int(info.frames), _promised_wav_frames(path))


def probe(path) -> str | None:
    """Read only the header; return None when the file looks loadable, else the reason."""
    try:
        read_header(path)
    except AudioLoadError as error:
        return error.reason
    return None


def _promised_wav_frames(path) -> int | None:
    """The frames a RIFF/WAVE header's data chunk promises; None for other files. libsndfile
    quietly reports what a truncated file holds instead."""
    with open(path, "rb") as f:
        riff = f.read(12)
        if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            return None
        block_align = None
        while len(chunk := f.read(8)) == 8:
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"fmt " and size >= 14:
                block_align = struct.unpack("<H", f.read(14)[12:14])[0]
                f.seek(size - 14 + size % 2, os.SEEK_CUR)
            elif name == b"data":
                return size // block_align if block_align and size != 0xFFFFFFFF else None
            else:
                f.seek(size + size % 2, os.SEEK_CUR)
    return None


def read_audio(path) -> tuple[np.ndarray, int]:
    """Decode a file as it is: float32 of shape (frames, channels) and its sample rate."""
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioLoadError(path, _reason(path, error)) from None
    if samples.shape[0] == 0:
        raise AudioLoadError(path, "the file holds no audio samples")
    return samples, rate


def to_mono(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]


def fit_length(clip: np.ndarray, n_samples: int, mode: str) -> np.ndarray:
    """Crop long clips to their start; pad short ones with silence or loop them."""
    if clip.shape[0] >= n_samples:
        return clip[:n_samples]
    if mode == "loop":
        repeats = -(-n_samples // clip.shape[0])
        return np.tile(clip, repeats)[:n_samples]
    if mode == "pad":
        return np.pad(clip, (0, n_samples - clip.shape[0]))
    raise ValueError(f"unknown fit mode {mode!r}")


def native_rate(path) -> int | None:
    """The sample rate the file was recorded at, from its header; None when unreadable."""
    try:
        return int(sf.info(str(path)).samplerate)
    except Exception:  # libsndfile raises several types for broken headers
        return None


def decode(path) -> tuple[np.ndarray, int]:
    """A file as float32 mono at its own sample rate, NaN and inf silenced."""
    samples, rate = read_audio(path)
    return np.nan_to_num(to_mono(samples), nan=0.0, posinf=0.0, neginf=0.0), rate


def resample(clip: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return clip
    return librosa.resample(clip, orig_sr=rate, target_sr=target, res_type="soxr_hq").astype(np.float32, copy=False)


def load_clip(path, config: AudioConfig, band_limit: int | None = None) -> np.ndarray:
    """`band_limit` (a sample rate): a clip recorded above it is first resampled down to it, so it
    holds only what a recording at that rate could (bandwidth.py)."""
    clip, rate = decode(path)
    if band_limit is not None and rate > band_limit:
        clip, rate = resample(clip, rate, band_limit), band_limit
    return fit_length(
        resample(clip, rate, config.sample_rate).astype(np.float32, copy=False), config.n_samples, config.fit_mode
    )


def window_starts(seconds: float, window: float, hop: float) -> np.ndarray:
    """Where the windows of a clip `seconds` long start, `hop` apart, each `window` long; the last
    one ends where the clip does. A clip no longer than one window has one, at 0."""
    if seconds <= window:
        return np.zeros(1)
    starts = np.arange(0.0, seconds - window + 1e-9, hop)
    return starts if starts[-1] + window >= seconds - 1e-9 else np.append(starts, seconds - window)


def cut_windows(clip: np.ndarray, starts: np.ndarray, config: AudioConfig) -> np.ndarray:
    """(windows, config.n_samples): the clip (at config's rate) from each start; a clip no longer
    than one window is fitted to it as load_clip fits it."""
    n = config.n_samples
    if len(clip) <= n:
        return fit_length(clip, n, config.fit_mode)[None]
    return np.stack([fit_length(clip[int(round(s * config.sample_rate)) :][:n], n, config.fit_mode) for s in starts])


def _reason(path, error) -> str:
    if not os.path.exists(path):
        return "file not found"
    if os.path.getsize(path) == 0:
        return "empty file (0 bytes)"
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    # libsndfile says "Error opening '<path>': <what>"; the path is already in our message
    return f"not decodable as audio ({message.rsplit(chr(39) + ': ', 1)[-1]})"
