"""Test clips that are slices of one recording, found by their average spectrum and voted together.

UrbanSound8K-style competitions cut recordings into slices of up to 4 s, and a test set holds
several slices of most of its recordings: the honest benchmark's 491 readable test clips come
from 81 recordings. Slices of one recording share its microphone, level and background, so
their average spectra lie closer together than those of clips of different recordings. Test
clips within a link distance of each other are linked; clips linked directly or through others
form a group, and every clip of a group gets the mean of the group's blended probabilities: the
slices of a recording vote together. A clip with no link keeps its own probabilities. The
training clips take part with their known labels (one-hot): where a competition's split puts
slices of one recording on both sides, as a random split does, the test slices linked to the
training ones learn their label.

The link distance is set on the training clips, whose recordings their file names give: the
LINK_PERCENTILE-th percentile of each training clip's distance to its nearest clip of another
recording. Only Mel bands centred below FINGERPRINT_TOP_HZ count, so that a slice recorded at
8 kHz still links with its full-band siblings. Validation clips are voted the same way, with
the link distance of their fold's training clips, so the validation figures measure what the
test predictions do. How the linkage and percentile were chosen, and what the vote gains on
each kind of test: benchmarks/README.md.
"""

import dataclasses
import logging

import librosa
import numpy as np
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import pairwise_distances_chunked
from sklearn.neighbors import radius_neighbors_graph

from ..config import AudioConfig
from . import TEST, JudgedSet

log = logging.getLogger(__name__)

FINGERPRINT_TOP_HZ = 3500.0  # below the 4 kHz Nyquist frequency of the lowest-rate files (8 kHz)
LINK_PERCENTILE = 1.0
BLOCK = 256  # clips per block when averaging log-Mels: bounds the temporaries to a few MB


def fingerprint_bands(audio: AudioConfig) -> np.ndarray:
    """Indices of the Mel bands centred below FINGERPRINT_TOP_HZ."""
    centres = librosa.mel_frequencies(audio.n_mels + 2, fmin=audio.fmin, fmax=audio.fmax)[1:-1]
    return np.flatnonzero(centres < FINGERPRINT_TOP_HZ)


def recording_fingerprints(features: np.ndarray, audio: AudioConfig) -> np.ndarray:
    """(clips, n_mels, frames) log-Mels in dB -> (clips, bands) float32: each clip's level in every
    Mel band below FINGERPRINT_TOP_HZ, averaged over time."""
    if np.ndim(features) != 3 or np.shape(features)[1] != audio.n_mels:
        raise ValueError(
            f"recording_fingerprints needs (clips, {audio.n_mels}, frames) log-Mels, got shape {np.shape(features)}"
        )
    bands = fingerprint_bands(audio)
    out = np.empty((len(features), len(bands)), dtype=np.float32)
    for start in range(0, len(features), BLOCK):
        out[start : start + BLOCK] = np.asarray(features[start : start + BLOCK], dtype=np.float32)[:, bands].mean(
            axis=-1
        )
    return out


def link_distance(fingerprints: np.ndarray, recordings) -> float | None:
    """The LINK_PERCENTILE-th percentile, over the clips, of each clip's Euclidean distance to the
    nearest clip of another recording; None with fewer than two recordings."""
    recordings = np.asarray(recordings)
    if len(recordings) != len(fingerprints):
        raise ValueError(f"{len(fingerprints)} fingerprints but {len(recordings)} recording names")
    if len(np.unique(recordings)) < 2:
        return None

    def nearest_other(distances, start):
        rows = recordings[start : start + len(distances)]
        return np.where(rows[:, None] == recordings[None, :], np.inf, distances).min(axis=1)

    nearest = np.concatenate(list(pairwise_distances_chunked(fingerprints, reduce_func=nearest_other)))
    return float(np.percentile(nearest, LINK_PERCENTILE))


@dataclasses.dataclass
class KnownRecordings:
    """The training clips the vote links new clips with: their fingerprints and labels, and the
    link distance they set (None with fewer than two recordings: no vote)."""

    fingerprints: np.ndarray
    labels: np.ndarray  # class index per clip
    n_classes: int
    distance: float | None

    @classmethod
    def of_training_clips(cls, fingerprints: np.ndarray, labels, recordings, n_classes: int) -> "KnownRecordings":
        return cls(
            np.asarray(fingerprints, np.float32), np.asarray(labels), n_classes, link_distance(fingerprints, recordings)
        )


def recording_groups(fingerprints: np.ndarray, distance: float) -> np.ndarray:
    """A group number per clip: the clips linked, directly or through others, by fingerprints
    within `distance` of each other."""
    if len(fingerprints) == 0:
        return np.zeros(0, dtype=np.int64)
    links = radius_neighbors_graph(fingerprints, radius=distance, include_self=False)
    return connected_components(links, directed=False)[1].astype(np.int64)


def vote_within_groups(probabilities: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Every row replaced by the mean of its group's rows."""
    probabilities, groups = np.asarray(probabilities, dtype=np.float64), np.asarray(groups)
    if probabilities.ndim != 2 or len(groups) != len(probabilities):
        raise ValueError(
            f"need (clips, classes) probabilities and one group per clip, got {probabilities.shape} "
            f"and {len(groups)} groups"
        )
    if len(groups) == 0:
        return probabilities.astype(np.float32)
    sums = np.zeros((groups.max() + 1, probabilities.shape[1]))
    np.add.at(sums, groups, probabilities)
    return (sums / np.bincount(groups)[:, None])[groups].astype(np.float32)


def vote_by_recording(
    probabilities: np.ndarray, fingerprints: np.ndarray, known: KnownRecordings, judged: JudgedSet = TEST
) -> np.ndarray:
    """The `judged` clips' probabilities, voted within the groups their fingerprints form with the
    known clips' at the known link distance (unchanged where it is None), and a log line saying how
    many were grouped."""
    if known.distance is None:
        log.log(
            judged.level,
            "no recording vote for the %s clips: the training clips come from fewer than two recordings",
            judged.name,
        )
        return np.asarray(probabilities, dtype=np.float32)
    n = len(probabilities)
    groups = recording_groups(
        np.concatenate([np.asarray(fingerprints, np.float32), known.fingerprints]), known.distance
    )
    votes = np.concatenate([np.asarray(probabilities, np.float64), np.eye(known.n_classes)[known.labels]])
    voted = vote_within_groups(votes, groups)[:n]
    own = groups[:n]
    sizes = np.bincount(own, minlength=groups.max(initial=-1) + 1)
    with_known = np.isin(own, groups[n:])
    log.log(
        judged.level,
        "recording vote: %d of %d %s clips sound like slices of one recording with other clips (%d of them with "
        "training clips), and share their probabilities",
        int(np.sum((sizes[own] > 1) | with_known)),
        n,
        judged.name,
        int(with_known.sum()),
    )
    return voted
