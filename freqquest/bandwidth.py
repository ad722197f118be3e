"""Test clips recorded at a low sample rate, judged by classical models that heard the training
clips the same way.

A clip recorded at 8 kHz holds nothing above 4 kHz: the top Mel bands of its log-Mel lie at the
floor, and classical models fitted on full-band training clips read those empty bands as
evidence for some class. For each such rate among the readable test clips, the blend's
classical models are fitted again on the training clips resampled down to that rate, and
judge the test clips recorded at it. Each fold's validation clips are matched the same way, by
models fitted on the fold's training clips, so the validation figures measure what the test
predictions do. The network is not matched: that would take one training per rate, and a
network trained on 8-bit 8 kHz copies besides the originals scored 0.831 alone on the
Kaggle-like split, against 0.934.
Measured side by side (`--preset default` with and without `--no-match-bandwidth`, seed 42;
README): the blend on the test clips at 8 kHz went from 19 to 20 right of 26 on the honest split
and from 8 to 10 of 10 on the Kaggle-like split; leaderboard accuracy 0.7692 -> 0.7713 honest,
0.9798 -> 0.9899 Kaggle-like (196 of 198).
"""
import logging
import os

import numpy as np

from .audio import native_rate
from .classical import classical_path, load_or_fit_classical
from .config import AudioConfig, TrainConfig
from .features import extract_features
from .inference import Blend

log = logging.getLogger(__name__)


def native_rates(paths) -> np.ndarray:
    """Each file's sample rate from its header, 0 where the header is unreadable."""
    return np.array([native_rate(p) or 0 for p in paths], dtype=np.int64)


def readable_rates(feature_set) -> np.ndarray:
    """The native rate of each clip of a FeatureSet, 0 where its audio could not be decoded."""
    return np.where(feature_set.ok, native_rates(feature_set.paths), 0)


def low_rates(rates, audio: AudioConfig) -> list:
    """The distinct sample rates whose Nyquist frequency lies below the top of the Mel range
    (`audio.fmax`): a clip recorded at one of them leaves the top bands empty."""
    return sorted({int(r) for r in rates if 0 < r < 2 * audio.fmax})


def matched_dir(directory, rate: int) -> str:
    return os.path.join(directory, f"classical_{rate}hz")


def match_bandwidth(blend: Blend, config: TrainConfig, audio: AudioConfig, train_paths: list, train_labels: np.ndarray,
                    rates: np.ndarray, directory, cache_dir=None, workers=None, save: bool = True,
                    judged: str = "test") -> None:
    """Fill `blend.matched` for the low rates among `rates`, those of the clips the blend is about
    to judge (0 for a clip that is not judged), with the blend's classical models fitted on
    `train_paths` resampled to each rate. Models saved in `directory` before are loaded, so
    --resume and --predict-only reuse them; new ones are saved there only when `save`. Nothing
    is fitted when `config.match_bandwidth` is off or the blend has no classical models."""
    if not (config.match_bandwidth and blend.classical):
        return
    train_labels = np.asarray(train_labels)
    for rate in low_rates(rates, audio):
        band_limited = extract_features(train_paths, audio, cache_dir, workers, desc=f"train features at {rate} Hz",
                                         band_limit=rate)
        x, y = band_limited.features[band_limited.ok], train_labels[band_limited.ok]
        rate_dir = matched_dir(directory, rate)
        blend.matched[rate] = {name: [load_or_fit_classical(rate_dir, name, x, y, config.seed, save)]
                              for name in blend.classical}
        saved = all(os.path.isfile(classical_path(rate_dir, name)) for name in blend.classical)
        log.info("%d %s clip(s) recorded at %d Hz: judged by %s fitted on the training clips resampled to %d Hz (%s)",
                 int(np.sum(rates == rate)), judged, rate, ", ".join(blend.classical), rate, rate_dir if saved else "not saved")
