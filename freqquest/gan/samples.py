"""Generated clips a person can look at and listen to: spectrogram grids and .wav files."""

import dataclasses
import os

import keras
import librosa
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..competition.audio import load_clip  # noqa: E402
from ..config import AudioConfig  # noqa: E402
from ..features.store import log_mel  # noqa: E402
from ..figures import save_figure  # noqa: E402
from ..runs import GAN_SAMPLE_AUDIO, GAN_SAMPLE_PLOTS  # noqa: E402
from .inversion import GanScale, log_mels_to_audio, write_wav  # noqa: E402


@dataclasses.dataclass
class Sampler:
    """A generator and what turns its images into log-Mels. With `candidates` above 1, each image
    is the one of that many (drawn for its class) that the discriminator's own classifier head
    finds likeliest to be of the class: the GAN chooses, never the judge of the evaluation."""

    generator: keras.Model
    scale: GanScale
    latent_dim: int
    n_classes: int
    discriminator: keras.Model | None = None
    candidates: int = 1

    def images(self, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """per_class images of every class from seeded noise: (images in [-1, 1], labels)."""
        labels = np.repeat(np.arange(self.n_classes, dtype=np.int32), per_class)
        drawn = np.repeat(labels, self.candidates)
        noise = np.random.default_rng(seed).standard_normal((len(drawn), self.latent_dim)).astype(np.float32)
        images = np.asarray(self.generator.predict([noise, drawn], batch_size=64, verbose=0))
        if self.candidates == 1:
            return images, labels
        _, logits = self.discriminator.predict([images, drawn], batch_size=64, verbose=0)
        logits = np.asarray(logits, np.float64)
        log_p = (
            logits[np.arange(len(drawn)), drawn]
            - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1))
            - logits.max(1)
        )
        best = log_p.reshape(len(labels), self.candidates).argmax(1)
        return images.reshape(len(labels), self.candidates, *images.shape[1:])[np.arange(len(labels)), best], labels

    def log_mels(self, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """per_class log-Mels (dB) of every class from seeded noise: (dbs, labels)."""
        images, labels = self.images(per_class, seed)
        return self.scale.unscale(images), labels


def plot_spectrogram_grid(dbs, labels, classes: list, path, title: str, audio: AudioConfig) -> None:
    """A column of log-Mels per class on one colour scale, with time (s) under the bottom row and
    frequency (Hz, the Mel bands' centres) beside the first column."""
    per_class = int(np.bincount(labels, minlength=len(classes)).max())
    fig, axes = plt.subplots(
        per_class,
        len(classes),
        figsize=(2.4 * len(classes) + 0.6, 1.9 * per_class + 0.9),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    low, high = float(np.min(dbs)), float(np.max(dbs))
    extent = (0.0, dbs.shape[2] * audio.hop_length / audio.sample_rate, 0, dbs.shape[1])
    for k, name in enumerate(classes):
        for row, index in enumerate(np.flatnonzero(labels == k)):
            axes[row, k].imshow(
                dbs[index], origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high, extent=extent
            )
        axes[0, k].set_title(name, fontsize=9)
    centres = librosa.mel_frequencies(dbs.shape[1] + 2, fmin=audio.fmin, fmax=audio.fmax)[1:-1]
    ticks = [(int(np.argmin(np.abs(centres - hz))), hz) for hz in (250, 1000, 4000) if centres[0] <= hz <= centres[-1]]
    axes[0, 0].set_yticks([band for band, _ in ticks], [f"{hz:g}" for _, hz in ticks])
    for ax in axes[:, 0]:
        ax.set_ylabel("Hz", fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("time (s)", fontsize=8)
    for ax in axes.flat:
        ax.tick_params(labelsize=7)
    fig.suptitle(title)
    save_figure(fig, path)


def plot_real_beside_generated(real: dict, generated: dict, audio: AudioConfig, path) -> None:
    """Per class (a column), a real clip's log-Mel above a generated clip's: `real` is class ->
    (path, clip), `generated` class -> a generated .wav; both as the pipeline loads any file."""
    classes = list(generated)
    dbs = [log_mel(real[name][1], audio) for name in classes] + [
        log_mel(load_clip(generated[name], audio), audio) for name in classes
    ]
    labels = np.tile(np.arange(len(classes)), 2)  # each class's real clip comes first: the top row
    plot_spectrogram_grid(
        np.stack(dbs), labels, classes, path, "top row: a real training clip; bottom row: a generated one", audio
    )


class SampleWriter(keras.callbacks.Callback):
    """Every `every` epochs and after the last: a spectrogram grid and one .wav per class,
    from the same noise each time, so the files show one sample learning. `on_samples(epoch,
    grid_path, {class: wav_path})`, when given, is called with what was just written (the
    notebook displays it live)."""

    def __init__(self, run_dir, classes, audio: AudioConfig, scale: GanScale, config, on_samples=None):
        super().__init__()
        self.run_dir, self.classes, self.audio, self.scale, self.config = run_dir, classes, audio, scale, config
        self.on_samples = on_samples

    def on_epoch_end(self, epoch, logs=None):
        number = epoch + 1
        if number % self.config.sample_every and number != self.params["epochs"]:
            return
        sampler = Sampler(
            self.model.sampling_generator,
            self.scale,
            self.config.latent_dim,
            len(self.classes),
            self.model.discriminator,
            self.config.candidates,
        )
        dbs, labels = sampler.log_mels(3, self.config.seed)
        grid = os.path.join(self.run_dir, GAN_SAMPLE_PLOTS, f"epoch_{number:03d}.png")
        plot_spectrogram_grid(
            dbs, labels, self.classes, grid, f"generated log-Mel spectrograms, epoch {number}", self.audio
        )
        first = np.searchsorted(labels, np.arange(len(self.classes)))
        wavs = {}
        for name, audio in zip(self.classes, log_mels_to_audio(dbs[first], self.audio, self.config.griffin_lim_iters)):
            wavs[name] = os.path.join(self.run_dir, GAN_SAMPLE_AUDIO, f"{name}_ep{number}.wav")
            write_wav(wavs[name], audio, self.audio.sample_rate)
        if self.on_samples:
            self.on_samples(number, grid, wavs)
