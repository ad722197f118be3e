"""A whole set of clips predicted at once, as a competition's test set is, and each fold's
validation clips the same way: the blend's probabilities, voted by recording, refined by the
clips it is sure of, and the slices of training recordings routed to their recording's class.

1. The blend predicts every clip; clips that look like slices of one recording vote together,
   the training clips with their labels (recordings.py).
2. Pseudo-labels (`config.pseudo_label`, a probability): the clips the voted blend gives a class
   at least that probability join the training clips with that class, the members that refit in
   seconds are fitted again on both, and the set is predicted and voted again. The test clips'
   own distribution then shapes the model: a clip of a new recording is judged partly by its
   confidently labelled neighbours (self-training, as the strongest BirdCLEF entries do).
3. Every clip is matched to the training recordings (reuse.py), the share of the set that are
   slices of them is estimated from the whole set, and the log says it and how many clips look
   like slices by their own score. With routing (`config.route_reused`) those take their
   recording's class; a clip of a new recording keeps the blend's answer.
"""

import dataclasses
import logging

import numpy as np

from ..config import AudioConfig, TrainConfig
from ..features.inputs import ClipInputs
from . import TEST, JudgedSet
from .members import Blend
from .recordings import KnownRecordings, recording_fingerprints, vote_by_recording
from .reuse import Matches, RecordingMatcher, describe_matches

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainingClips:
    """The usable training clips: what the members read, labels, recordings, files, each file's
    native rate, which clips are distinct (not a byte-identical copy of an earlier one: a copy
    would put the vote's link distance at 0 dB), and the vote's fingerprints (None without it)."""

    paths: list
    inputs: ClipInputs
    labels: np.ndarray
    groups: np.ndarray
    rates: np.ndarray
    distinct: np.ndarray
    fingerprints: np.ndarray | None
    n_classes: int
    audio: AudioConfig

    def known(self, index=None) -> KnownRecordings | None:
        """The distinct clips among `index` (all by default), as the recording vote knows them."""
        if self.fingerprints is None:
            return None
        index = np.arange(len(self.labels)) if index is None else np.asarray(index)
        kept = index[self.distinct[index]]
        return KnownRecordings.of_training_clips(
            self.fingerprints[kept], self.labels[kept], self.groups[kept], self.n_classes
        )

    def matcher(self, config: TrainConfig, index=None) -> RecordingMatcher:
        """The clips among `index` (all by default) as reuse.RecordingMatcher knows them."""
        index = np.arange(len(self.labels)) if index is None else np.asarray(index)
        kept = index[self.distinct[index]]
        return RecordingMatcher.fit(
            matcher_rows(self.inputs.take(kept), config),
            self.labels[kept],
            self.groups[kept],
            standardize=not config.embedding_models,
        )


def matcher_rows(inputs: ClipInputs, config: TrainConfig) -> np.ndarray:
    """What clips are matched by: the recipe's first embedding, else the log-Mel statistics."""
    return inputs.of(config.embedding_models[0]) if config.embedding_models else inputs.statistics


@dataclasses.dataclass
class SetPrediction:
    """A set's probabilities (after the vote, pseudo-labels and routing), each member's before
    them, and which clips look like slices of training recordings."""

    probabilities: np.ndarray
    members: dict
    matches: Matches


def predict_set(
    blend: Blend,
    config: TrainConfig,
    train: TrainingClips,
    train_idx,
    inputs: ClipInputs,
    rates,
    judged: JudgedSet = TEST,
) -> SetPrediction:
    """The `judged` clips `inputs` (recorded at `rates`), by `blend` fitted on the training clips
    `train_idx` of `train` (None: all of them; the module docstring's three steps)."""
    train_idx = np.arange(len(train.labels)) if train_idx is None else np.asarray(train_idx)
    members = blend.predict(inputs, rates)
    fingerprints = recording_fingerprints(inputs.log_mels, train.audio) if train.fingerprints is not None else None
    known = train.known(train_idx)
    probabilities = _voted(blend.average(members), fingerprints, known, judged)
    if config.pseudo_label and len(inputs):
        sure = probabilities.max(axis=1) >= config.pseudo_label
        log.log(
            judged.level,
            "pseudo-labels: %d of %d %s clips, given a class with probability %.2f or more, join the training clips",
            int(sure.sum()),
            len(sure),
            judged.name,
            config.pseudo_label,
        )
        labels = np.concatenate([train.labels[train_idx], probabilities.argmax(axis=1)[sure]])
        refitted = blend.refitted(train.inputs.take(train_idx).concat(inputs.take(sure)), labels, config.seed)
        probabilities = _voted(refitted.average(refitted.predict(inputs, rates)), fingerprints, known, judged)
    matcher = train.matcher(config, train_idx)
    matches = matcher.match(matcher_rows(inputs, config))
    log.log(judged.level, describe_matches(matches, judged.name, config.route_reused))
    if config.route_reused:
        probabilities[matches.matched] = matcher.predict(matches, train.n_classes)[matches.matched]
    return SetPrediction(probabilities, members, matches)


def _voted(probabilities, fingerprints, known: KnownRecordings | None, judged: JudgedSet) -> np.ndarray:
    if fingerprints is None or known is None:
        return probabilities
    return vote_by_recording(probabilities, fingerprints, known, judged)
