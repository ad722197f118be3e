"""What every pretrained embedding does: cut a clip into the model's windows, embed each, pool."""
import dataclasses
import functools
import hashlib
import json
import os

import numpy as np

from ..audio import load_clip
from ..config import AudioConfig


class EmbeddingUnavailable(FileNotFoundError):
    """The embedding's model is not installed here; the message says how to get it."""


@functools.lru_cache(maxsize=8)
def file_sha1(path: str, size: int, mtime_ns: int) -> str:
    """The SHA-1 of a model file (size and mtime key the memo, so a replaced file is hashed again)."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Embedder:
    """A pretrained model that maps a window of `window_seconds` of audio at `sample_rate` to an
    array of `window_shape` (a vector of `dim` numbers for an embedding), pooled over a clip's
    windows by their mean, or kept window by window (`pooling` "none": what a network that
    fine-tunes the model's last layers reads). Subclasses name the model and run it (`model_file`,
    `embed_windows`)."""

    name: str
    sample_rate: int
    window_seconds: float
    hop_seconds: float  # between the starts of a clip's windows
    dim: int
    pooling = "mean"
    licence: str  # what a user must know before using it, printed once per run

    @property
    def window_shape(self) -> tuple:
        return (self.dim,)

    def settings(self) -> dict:
        """What else decides its output, for the cache key (beyond the model file and the windows)."""
        return {}

    def model_file(self) -> str:
        raise NotImplementedError

    def load(self):
        """Load the model into this process once (later calls reuse it)."""
        raise NotImplementedError

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        """(n, window samples) float32 -> (n, *window_shape) float32."""
        raise NotImplementedError

    def model_hash(self) -> str:
        path = self.model_file()
        stat = os.stat(path)
        return file_sha1(path, stat.st_size, stat.st_mtime_ns)

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate))

    def windows(self, clip: np.ndarray) -> np.ndarray:
        """The clip's windows, `hop_seconds` apart from its start, as many as fit whole: (n, window samples).
        A clip shorter than one window is looped to it, as clips are looped to their length."""
        n, hop = self.window_samples, int(round(self.hop_seconds * self.sample_rate))
        if len(clip) < n:
            clip = np.tile(clip, -(-n // len(clip)))[:n]
        starts = range(0, len(clip) - n + 1, hop)
        return np.stack([clip[s: s + n] for s in starts]).astype(np.float32, copy=False)

    def n_windows(self, n_samples: int) -> int:
        """How many windows `windows` cuts from a clip of `n_samples` samples at the model's rate."""
        return 1 + max(0, n_samples - self.window_samples) // int(round(self.hop_seconds * self.sample_rate))

    def extractor(self, audio: AudioConfig, band_limit: int | None = None) -> "ClipEmbedding":
        return ClipEmbedding(self, audio, band_limit)


@dataclasses.dataclass(frozen=True)
class ClipEmbedding:
    """The feature extractor (features.FeatureStore.extract) of an embedder: a file loaded as the
    pipeline loads clips (`audio`'s duration and fit mode) at the embedder's rate, cut into its
    windows, embedded, and pooled as the embedder says. With `band_limit`, as if recorded at that rate."""

    embedder: Embedder
    audio: AudioConfig
    band_limit: int | None = None

    @property
    def clip_config(self) -> AudioConfig:
        rate = self.embedder.sample_rate
        return dataclasses.replace(self.audio, sample_rate=rate, fmin=0.0, fmax=rate / 2)

    @property
    def shape(self) -> tuple:
        if self.embedder.pooling == "mean":
            return self.embedder.window_shape
        return (self.embedder.n_windows(self.clip_config.n_samples), *self.embedder.window_shape)

    @property
    def threads(self) -> int:
        return self.embedder.threads

    def describe(self) -> dict:
        clip = self.clip_config
        return {"embedding": self.embedder.name, "model_sha1": self.embedder.model_hash(),
                "window_seconds": self.embedder.window_seconds, "hop_seconds": self.embedder.hop_seconds,
                "pooling": self.embedder.pooling, "sample_rate": clip.sample_rate, "duration": clip.duration,
                "fit_mode": clip.fit_mode, "band_limit": self.band_limit, **self.embedder.settings()}

    @property
    def cache_name(self) -> str:
        settings = hashlib.sha1(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()[:16]
        return f"{self.embedder.name}-{settings}" + (f"-{self.band_limit}hz" if self.band_limit else "")

    def of_clip(self, clip: np.ndarray) -> np.ndarray:
        """The features of a clip already loaded at `clip_config` (what predict does for each window of a long clip)."""
        embedded = self.embedder.embed_windows(self.embedder.windows(clip))
        return embedded.mean(axis=0) if self.embedder.pooling == "mean" else embedded

    def __call__(self, path) -> np.ndarray:
        return self.of_clip(load_clip(path, self.clip_config, self.band_limit))
