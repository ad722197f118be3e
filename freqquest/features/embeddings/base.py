"""What every pretrained embedding does: cut a clip into the model's windows, embed each, pool."""

import dataclasses
import functools
import hashlib
import json
import os

import numpy as np

from ...competition.audio import fit_length, load_clip
from ...config import AudioConfig


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
    fine-tunes the model's last layers reads). Subclasses name the model, what they read of it
    (`output`) and run it (`model_file`, `model_key`, `run`)."""

    name: str
    sample_rate: int
    window_seconds: float
    hop_seconds: float  # between the starts of a clip's windows
    dim: int
    output: str  # what it reads of the model (a tensor's name)
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

    def model_key(self) -> tuple:
        """Which running model it reads: embedders with one key read one model, so a clip's
        windows go through it once for all of them (SharedPass)."""
        raise NotImplementedError

    def load(self):
        """Load the model into this process once (later calls reuse it)."""
        raise NotImplementedError

    def run(self, windows: np.ndarray, outputs: tuple) -> list:
        """(n, window samples) float32 -> what the model computes of each window for each of
        `outputs` (embedders' `output`), (n, ...) float32 each, in one pass."""
        raise NotImplementedError

    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        """(n, window samples) float32 -> (n, *window_shape) float32."""
        return self.run(windows, (self.output,))[0]

    def model_hash(self) -> str:
        path = self.model_file()
        stat = os.stat(path)
        return file_sha1(path, stat.st_size, stat.st_mtime_ns)

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate))

    def starts(self, n_samples: int) -> list:
        """Where a clip's windows start, in samples: `hop_seconds` apart from its start, as many as fit whole."""
        return list(
            range(
                0,
                max(n_samples, self.window_samples) - self.window_samples + 1,
                int(round(self.hop_seconds * self.sample_rate)),
            )
        )

    def windows(self, clip: np.ndarray) -> np.ndarray:
        """The clip's windows (`starts`): (n, window samples)."""
        return cut(clip, self.starts(len(clip)), self.window_samples)

    def n_windows(self, n_samples: int) -> int:
        """How many windows `windows` cuts from a clip of `n_samples` samples at the model's rate."""
        return len(self.starts(n_samples))

    def extractor(self, audio: AudioConfig, band_limit: int | None = None) -> "ClipEmbedding":
        return ClipEmbedding(self, audio, band_limit)


def cut(clip: np.ndarray, starts, n: int) -> np.ndarray:
    """(len(starts), n) float32: the clip from each start. A clip shorter than one window is looped
    to it, as clips are looped to their length."""
    clip = fit_length(clip, max(n, len(clip)), "loop")
    return np.stack([clip[s : s + n] for s in starts]).astype(np.float32, copy=False)


@dataclasses.dataclass(frozen=True)
class ClipEmbedding:
    """The feature extractor (features.store.FeatureStore.extract) of an embedder: a file loaded as the
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
        return {
            "embedding": self.embedder.name,
            "model_sha1": self.embedder.model_hash(),
            "window_seconds": self.embedder.window_seconds,
            "hop_seconds": self.embedder.hop_seconds,
            "pooling": self.embedder.pooling,
            "sample_rate": clip.sample_rate,
            "duration": clip.duration,
            "fit_mode": clip.fit_mode,
            "band_limit": self.band_limit,
            **self.embedder.settings(),
        }

    @property
    def cache_name(self) -> str:
        settings = hashlib.sha1(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()[:16]
        return f"{self.embedder.name}-{settings}" + (f"-{self.band_limit}hz" if self.band_limit else "")

    @property
    def pass_key(self) -> tuple:
        """What extractions of one pass over a file share (SharedPass): the model, the clip as loaded, the window."""
        return self.embedder.model_key(), self.clip_config, self.band_limit, self.embedder.window_samples

    def pooled(self, embedded: np.ndarray) -> np.ndarray:
        return embedded.mean(axis=0) if self.embedder.pooling == "mean" else embedded

    def of_clip(self, clip: np.ndarray) -> np.ndarray:
        """The features of a clip already loaded at `clip_config` (what predict does for each window of a long clip)."""
        return self.pooled(self.embedder.embed_windows(self.embedder.windows(clip)))

    def __call__(self, path) -> np.ndarray:
        return self.of_clip(load_clip(path, self.clip_config, self.band_limit))


@dataclasses.dataclass(frozen=True)
class SharedPass:
    """Extractions of one model (ClipEmbeddings with one `pass_key`) in one pass over a file: it
    is loaded once, cut into every window any of them reads (the union of their starts), and each
    window goes through the model once, which gives each extraction its own output; each takes its
    windows and pools them. The default recipe's two BirdNET features (the embedding, windows 0.5 s
    apart, and what the fine-tuned network reads, 0.25 s apart) cost 5 windows a clip, not 3 + 5."""

    parts: tuple  # ClipEmbedding

    @property
    def clip_config(self) -> AudioConfig:
        return self.parts[0].clip_config

    @property
    def embedder(self) -> Embedder:
        """The model's embedder that loads it (every part's runs the same model)."""
        return self.parts[0].embedder

    def of_clip(self, clip: np.ndarray) -> tuple:
        """Each part's features of a clip already loaded at the parts' `clip_config`."""
        starts = [part.embedder.starts(len(clip)) for part in self.parts]
        union = sorted(set().union(*starts))
        outputs = list(dict.fromkeys(part.embedder.output for part in self.parts))
        found = dict(zip(outputs, self.embedder.run(cut(clip, union, self.embedder.window_samples), tuple(outputs))))
        rows = {start: row for row, start in enumerate(union)}
        return tuple(
            part.pooled(found[part.embedder.output][[rows[s] for s in own]]) for part, own in zip(self.parts, starts)
        )

    def __call__(self, path) -> tuple:
        return self.of_clip(load_clip(path, self.parts[0].clip_config, self.parts[0].band_limit))


@dataclasses.dataclass(frozen=True)
class Alone:
    """An extractor that shares its pass over a file with none: its array, as a tuple of one, as a SharedPass gives."""

    extractor: object

    @property
    def clip_config(self) -> AudioConfig:
        return self.extractor.clip_config

    def of_clip(self, clip: np.ndarray) -> tuple:
        return (self.extractor.of_clip(clip),)

    def __call__(self, path) -> tuple:
        return (self.extractor(path),)


def shared_passes(extractors: dict) -> list:
    """(names, extraction) of each pass over a file that `extractors` (name -> extractor) take, the
    extraction giving a tuple of their features: ClipEmbeddings with one `pass_key` join one
    SharedPass; any other extractor is a pass of its own."""
    groups = {}
    for name, extractor in extractors.items():
        key = extractor.pass_key if isinstance(extractor, ClipEmbedding) else ("alone", name)
        groups.setdefault(key, []).append(name)
    return [
        (
            tuple(names),
            SharedPass(tuple(extractors[n] for n in names))
            if isinstance(extractors[names[0]], ClipEmbedding)
            else Alone(extractors[names[0]]),
        )
        for names in groups.values()
    ]
