"""What the blend's members read of a set of clips: the log-Mels (the log-Mel networks' input,
and through their statistics the logreg's and svm's) and what pretrained models compute of each
clip (an embedding for a member named after it, BirdNET's windows for the birdnet network),
extracted together through one FeatureStore.

The clip statistics summarize a log-Mel over time: with a few dozen recordings per class, a
strongly regularized model on a clip's time-pooled spectral profile generalizes to unseen
recordings better than a CNN does, and the two make different mistakes (blend/classical.py).
"""

import dataclasses
import functools

import numpy as np
import scipy.fft

from ..competition.audio import cut_windows, resample
from ..config import AudioConfig
from .embeddings import shared_passes
from .store import FeatureStore, FileResults, LogMel

LOG_MEL = "log-Mel"

N_CEPSTRA = 40
STATISTICS = ("mean", "std", "p10", "p90", "mean_abs_delta")
# Clips per block when computing statistics: bounds the temporaries (sorts, deltas) to a few MB.
BLOCK = 256


def n_statistics(n_mels: int) -> int:
    return len(STATISTICS) * (n_mels + min(N_CEPSTRA, n_mels))


def _summarize(series: np.ndarray) -> list:
    """The STATISTICS of each row of (clips, rows, frames) over its frames."""
    ordered = np.sort(series, axis=-1)
    n_frames = series.shape[-1]
    return [
        series.mean(-1),
        series.std(-1),
        ordered[..., int(0.1 * n_frames)],
        ordered[..., int(0.9 * n_frames)],
        np.abs(np.diff(series, axis=-1)).mean(-1) if n_frames > 1 else np.zeros(series.shape[:-1], series.dtype),
    ]


def clip_statistics(features: np.ndarray) -> np.ndarray:
    """(clips, n_mels, frames) log-Mels -> (clips, n_statistics) float32: each STATISTIC over time
    of every Mel band and of the first N_CEPSTRA cepstral coefficients (the DCT of the log-Mel
    over bands, as in MFCCs): the spectral profile, its spread and how fast it moves."""
    features = np.asarray(features)
    if features.ndim != 3:
        raise ValueError(f"clip_statistics needs (clips, n_mels, frames) log-Mels, got shape {features.shape}")
    n_cepstra = min(N_CEPSTRA, features.shape[1])
    out = np.empty((len(features), n_statistics(features.shape[1])), dtype=np.float32)
    for start in range(0, len(features), BLOCK):
        block = np.asarray(features[start : start + BLOCK], dtype=np.float32)
        cepstra = scipy.fft.dct(block, type=2, axis=1, norm="ortho")[:, :n_cepstra]
        out[start : start + len(block)] = np.concatenate(_summarize(block) + _summarize(cepstra), axis=1)
    return out


@dataclasses.dataclass
class ClipInputs:
    """Rows of clips: their log-Mels and what pretrained models computed of them, by name, in the same order."""

    log_mels: np.ndarray
    pretrained: dict = dataclasses.field(default_factory=dict)  # name -> (clips, ...)

    def __len__(self) -> int:
        return len(self.log_mels)

    def take(self, index) -> "ClipInputs":
        return ClipInputs(self.log_mels[index], {name: e[index] for name, e in self.pretrained.items()})

    def concat(self, other: "ClipInputs") -> "ClipInputs":
        """These clips, then `other`'s."""
        pretrained = {name: np.concatenate([e, other.of(name)]) for name, e in self.pretrained.items()}
        return ClipInputs(np.concatenate([self.log_mels, other.log_mels]), pretrained)

    @functools.cached_property
    def statistics(self) -> np.ndarray:
        return clip_statistics(self.log_mels)

    def of(self, name: str) -> np.ndarray:
        """What the pretrained model `name` computed of these clips."""
        if name not in self.pretrained:
            raise ValueError(f"these clips have no {name} features: they were not extracted")
        return self.pretrained[name]


@dataclasses.dataclass
class ClipSet(FileResults):
    """A list of files with their ClipInputs (rows of zeros where a file is unreadable); a file's
    error is the first any extractor met."""

    inputs: ClipInputs
    counts: dict  # extractor -> (clips extracted now, clips read from the cache)

    def describe_counts(self) -> str:
        """e.g. 'log-Mel 0 extracted, 130 from the cache; birdnet 130 extracted, 0 from the cache'."""
        return "; ".join(
            f"{name} {new} extracted, {cached} from the cache" for name, (new, cached) in self.counts.items()
        )


def clip_extractors(audio: AudioConfig, embedders: dict | None = None, band_limit: int | None = None) -> dict:
    """name -> extractor of everything the members read: the log-Mel, and what each of `embedders`
    (name -> embeddings.Embedder) computes; with `band_limit`, of files as if recorded at that rate."""
    extractors = {LOG_MEL: LogMel(audio, band_limit)}
    return extractors | {name: embedder.extractor(audio, band_limit) for name, embedder in (embedders or {}).items()}


def extract_clip_set(
    store: FeatureStore, paths, embedders: dict | None = None, desc: str = "clips", band_limit: int | None = None
) -> ClipSet:
    """The ClipInputs of the files `paths`, extracted through the store's cache."""
    sets = store.extract_all(paths, clip_extractors(store.audio, embedders, band_limit), desc)
    errors = [next((e for e in row if e), "") for row in zip(*(s.errors for s in sets.values()))]
    inputs = ClipInputs(sets[LOG_MEL].features, {name: sets[name].features for name in embedders or {}})
    counts = {name: (s.n_extracted, s.n_cached) for name, s in sets.items()}
    return ClipSet(sets[LOG_MEL].paths, errors, inputs, counts)


def inputs_of_windows(
    clip: np.ndarray, rate: int, starts: np.ndarray, audio: AudioConfig, embedders: dict
) -> ClipInputs:
    """The ClipInputs of the windows of a decoded clip (mono at its own `rate`) that start at
    `starts` (seconds): what the members read of each, computed as for a file, in memory."""
    found = {}
    for names, extraction in shared_passes(clip_extractors(audio, embedders)):
        config = extraction.clip_config
        per_window = [
            extraction.of_clip(w) for w in cut_windows(resample(clip, rate, config.sample_rate), starts, config)
        ]
        found |= {name: np.stack([features[k] for features in per_window]) for k, name in enumerate(names)}
    return ClipInputs(found.pop(LOG_MEL), found)
