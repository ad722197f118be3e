"""Looking at the data and at a run's mistakes: what the notebooks show between the steps of
the pipeline, kept here so that the notebooks only call and display."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..competition.audio import AudioLoadError, load_clip  # noqa: E402
from ..competition.dataset import Competition  # noqa: E402
from ..config import AudioConfig  # noqa: E402
from ..features.store import log_mel  # noqa: E402
from ..figures import save_figure  # noqa: E402
from ..runs import VALIDATION_PREDICTIONS  # noqa: E402


def first_readable_clips(competition: Competition, audio: AudioConfig) -> dict:
    """class -> (path, clip) for the first training file of each class that loads."""
    found = {}
    for path, label in zip(competition.train_paths, competition.train_labels):
        name = competition.classes[label]
        if name in found:
            continue
        try:
            found[name] = (path, load_clip(path, audio))
        except AudioLoadError:
            continue
    return found


def plot_class_examples(examples: dict, audio: AudioConfig, path) -> None:
    """One row per class: the waveform and the log-Mel spectrogram the models see."""
    fig, axes = plt.subplots(len(examples), 2, figsize=(12, 2.3 * len(examples)), squeeze=False)
    seconds = np.arange(audio.n_samples) / audio.sample_rate
    for row, (name, (clip_path, clip)) in enumerate(examples.items()):
        axes[row, 0].plot(seconds, clip, linewidth=0.5)
        axes[row, 0].set_xlim(0, seconds[-1])
        axes[row, 0].set_ylabel(name)
        axes[row, 0].set_title(os.path.basename(clip_path), fontsize=8)
        axes[row, 1].imshow(
            log_mel(clip, audio),
            origin="lower",
            aspect="auto",
            cmap="magma",
            extent=(0, audio.duration, 0, audio.n_mels),
        )
        axes[row, 1].set_ylabel("Mel band")
    axes[-1, 0].set_xlabel("seconds")
    axes[-1, 1].set_xlabel("seconds")
    save_figure(fig, path)


def misclassified(run_dir, n: int = 5) -> pd.DataFrame:
    """The validation clips the run got wrong, most confidently wrong first."""
    table = pd.read_csv(os.path.join(run_dir, VALIDATION_PREDICTIONS))
    wrong = table[table["class"] != table["predicted"]].copy()
    wrong["confidence"] = [row[row["predicted"]] for _, row in wrong.iterrows()]
    return wrong.sort_values("confidence", ascending=False).head(n)[["path", "class", "predicted", "confidence"]]
