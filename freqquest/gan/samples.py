"""Generated clips a person can look at and listen to: spectrogram grids and .wav files."""
import os

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..config import AudioConfig  # noqa: E402
from ..reports import save_figure  # noqa: E402
from .inversion import log_mels_to_audio, unscale_log_mel, write_wav  # noqa: E402

AUDIO_DIR = "gan_generated_audio"
PLOT_DIR = "gan_spectrogram_plots"


def sample_log_mels(generator, n_classes: int, per_class: int, latent_dim: int, seed: int, top_db: float, db_range: float):
    """per_class log-Mels (dB) of every class from seeded noise: (dbs, labels)."""
    labels = np.repeat(np.arange(n_classes, dtype=np.int32), per_class)
    noise = np.random.default_rng(seed).standard_normal((len(labels), latent_dim)).astype(np.float32)
    scaled = np.asarray(generator.predict([noise, labels], batch_size=64, verbose=0))
    return unscale_log_mel(scaled, top_db, db_range), labels


def plot_spectrogram_grid(dbs, labels, classes: list, path, title: str) -> None:
    per_class = int(np.bincount(labels, minlength=len(classes)).max())
    fig, axes = plt.subplots(per_class, len(classes), figsize=(2.4 * len(classes), 1.9 * per_class + 0.6), squeeze=False)
    low, high = float(np.min(dbs)), float(np.max(dbs))
    for k, name in enumerate(classes):
        for row, index in enumerate(np.flatnonzero(labels == k)):
            axes[row, k].imshow(dbs[index], origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high)
        axes[0, k].set_title(name, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    save_figure(fig, path)


class SampleWriter(keras.callbacks.Callback):
    """Every `every` epochs and after the last: a spectrogram grid and one .wav per class,
    from the same noise each time, so the files show one sample learning. `on_samples(epoch,
    grid_path, {class: wav_path})`, when given, is called with what was just written (the
    notebook displays it live)."""

    def __init__(self, run_dir, classes, audio: AudioConfig, latent_dim, top_db, db_range, every, epochs, n_iter, seed,
                 on_samples=None):
        super().__init__()
        self.run_dir, self.classes, self.audio = run_dir, classes, audio
        self.latent_dim, self.top_db, self.db_range = latent_dim, top_db, db_range
        self.every, self.epochs, self.n_iter, self.seed = every, epochs, n_iter, seed
        self.on_samples = on_samples

    def on_epoch_end(self, epoch, logs=None):
        number = epoch + 1
        if number % self.every and number != self.epochs:
            return
        dbs, labels = sample_log_mels(self.model.generator, len(self.classes), 3, self.latent_dim, self.seed, self.top_db, self.db_range)
        grid = os.path.join(self.run_dir, PLOT_DIR, f"epoch_{number:03d}.png")
        plot_spectrogram_grid(dbs, labels, self.classes, grid, f"generated log-Mel spectrograms, epoch {number}")
        first = np.searchsorted(labels, np.arange(len(self.classes)))
        wavs = {}
        for name, audio in zip(self.classes, log_mels_to_audio(dbs[first], self.audio, self.n_iter)):
            wavs[name] = os.path.join(self.run_dir, AUDIO_DIR, f"{name}_ep{number}.wav")
            write_wav(wavs[name], audio, self.audio.sample_rate)
        if self.on_samples:
            self.on_samples(number, grid, wavs)


def plot_gan_history(history_csv, path) -> None:
    history = pd.read_csv(history_csv)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name in ("d_loss", "g_loss"):
        axes[0].plot(history["epoch"] + 1, history[name], marker="o", markersize=3, label=name)  # points: one epoch shows
    for name in ("real_score", "fake_score"):
        axes[1].plot(history["epoch"] + 1, history[name], marker="o", markersize=3, label=name)
    for ax, title in zip(axes, ("losses", "discriminator scores")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.legend()
    save_figure(fig, path)
