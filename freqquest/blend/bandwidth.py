"""Test clips recorded at a low sample rate, judged by classical models that heard the training
clips the same way.

A clip recorded at 8 kHz holds nothing above 4 kHz: the top Mel bands of its log-Mel lie at the
floor, and classical models fitted on full-band training clips read those empty bands as
evidence for some class. For each such rate among the readable test clips, the blend's
classical models on log-Mel statistics are fitted again on the training clips resampled down
to that rate, and judge the test clips recorded at it. Each fold's validation clips are
matched the same way, by models fitted on the fold's training clips, so the validation figures
measure what the test predictions do. The network is not matched (that would take one training
per rate), nor a member on a pretrained embedding; why, with the figures: benchmarks/README.md.
"""

import logging

import numpy as np

from ..competition.audio import native_rate
from ..config import AudioConfig, TrainConfig
from ..features.inputs import ClipInputs
from ..features.store import FeatureStore
from ..runs import matched_rates
from . import TEST, JudgedSet
from .classical import ModelFolder, load_classical
from .members import Blend

log = logging.getLogger(__name__)


def native_rates(paths) -> np.ndarray:
    """Each file's sample rate from its header, 0 where the header is unreadable."""
    return np.array([native_rate(p) or 0 for p in paths], dtype=np.int64)


def readable_rates(feature_set) -> np.ndarray:
    """The native rate of each clip of a FeatureSet or ClipSet, 0 where its audio could not be decoded."""
    return np.where(feature_set.ok, native_rates(feature_set.paths), 0)


def low_rates(rates, audio: AudioConfig) -> list:
    """The distinct sample rates whose Nyquist frequency lies below the top of the Mel range
    (`audio.fmax`): a clip recorded at one of them leaves the top bands empty."""
    return sorted({int(r) for r in rates if 0 < r < 2 * audio.fmax})


def match_bandwidth(
    blend: Blend,
    config: TrainConfig,
    store: FeatureStore,
    train_paths: list,
    train_labels: np.ndarray,
    rates: np.ndarray,
    models,
    judged: JudgedSet = TEST,
) -> None:
    """Give each member of `blend` that matches bandwidth a model for each low rate among `rates`
    (those of the clips the blend is about to judge; 0 for a clip it does not judge), fitted on
    `train_paths` resampled to that rate. `models` (a classical.ModelFolder, or IN_MEMORY) keeps
    them beside the full-band ones: models saved there before are loaded, so --resume and
    --predict-only reuse them. Nothing is fitted when `config.match_bandwidth` is off or no member
    matches bandwidth."""
    members = blend.matchable()
    if not (config.match_bandwidth and members):
        return
    train_labels = np.asarray(train_labels)
    names = ", ".join(m.name for m in members)
    for rate in low_rates(rates, store.audio):
        band_limited = store.log_mels(train_paths, f"train log-Mels at {rate} Hz", band_limit=rate)
        inputs, y = ClipInputs(band_limited.features[band_limited.ok]), train_labels[band_limited.ok]
        at_rate = models.at_rate(rate)
        for member in members:
            member.matched[rate] = member.fitted(member.name, at_rate, inputs, y, config.seed)
        log.info(
            "%d %s clip(s) recorded at %d Hz: judged by %s fitted on the training clips resampled to %d Hz (%s)",
            int(np.sum(rates == rate)),
            judged.name,
            rate,
            names,
            rate,
            at_rate if at_rate.holds(m.name for m in members) else "not saved",
        )


def load_matched(blend: Blend, directory) -> None:
    """The matched models saved in `directory` (for the low rates a run's test clips came at)."""
    members = blend.matchable()
    saved = ModelFolder(directory, save=False)
    for rate in matched_rates(directory) if members else ():
        at_rate = saved.at_rate(rate)
        if at_rate.holds(m.name for m in members):
            for member in members:
                member.matched[rate] = load_classical(at_rate.directory, member.name)
