"""Test clips recorded at a low sample rate, judged by classical models that heard the training
clips the same way.

A clip recorded at 8 kHz holds nothing above 4 kHz: the top Mel bands of its log-Mel lie at the
floor, and classical models fitted on full-band training clips read those empty bands as
evidence for some class. For each such rate among the readable test clips, the blend's
classical models are fitted again on the training clips resampled down to that rate, and
judge the test clips recorded at it. The network is not matched: that would take one training
per rate, and a network trained on 8-bit 8 kHz copies besides the originals scored 0.831 alone on
the Kaggle-like split, against 0.934.
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


def low_rates(rates, audio: AudioConfig) -> list:
    """The distinct sample rates whose Nyquist frequency lies below the top of the Mel range
    (`audio.fmax`): a clip recorded at one of them leaves the top bands empty."""
    return sorted({int(r) for r in rates if 0 < r < 2 * audio.fmax})


def matched_dir(run_dir, rate: int) -> str:
    return os.path.join(run_dir, f"classical_{rate}hz")


def match_bandwidth(blend: Blend, config: TrainConfig, audio: AudioConfig, train_paths: list, train_labels: np.ndarray,
                    test_set, run_dir, cache_dir=None, workers=None, save: bool = True) -> np.ndarray:
    """Fill `blend.matched` for the low rates among `test_set`'s readable clips and return each
    test clip's native rate, for `predict_members`. Models saved in `run_dir` before are loaded,
    so --resume and --predict-only reuse them; new ones are saved there only when `save`.
    Nothing is fitted when `config.match_bandwidth` is off or the blend has no classical models."""
    rates = native_rates(test_set.paths)
    if not (config.match_bandwidth and blend.classical):
        return rates
    train_labels = np.asarray(train_labels)
    readable = rates[test_set.ok]
    for rate in low_rates(readable, audio):
        band_limited = extract_features(train_paths, audio, cache_dir, workers, desc=f"train features at {rate} Hz",
                                         band_limit=rate)
        x, y = band_limited.features[band_limited.ok], train_labels[band_limited.ok]
        directory = matched_dir(run_dir, rate)
        blend.matched[rate] = {name: [load_or_fit_classical(directory, name, x, y, config.seed, save)]
                              for name in blend.classical}
        saved = all(os.path.isfile(classical_path(directory, name)) for name in blend.classical)
        log.info("%d test clip(s) recorded at %d Hz: judged by %s fitted on the training clips resampled to %d Hz (%s)",
                 int(np.sum(readable == rate)), rate, ", ".join(blend.classical), rate, directory if saved else "not saved")
    return rates
