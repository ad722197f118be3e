"""Why a run answered as it did, for one clip: where in the spectrogram its network looked
(Grad-CAM of the top class over the deciding window), what its convolutional blocks saw (feature
maps of the first, a middle and the last), and, for a run without a network, which moments of the
window the answer rests on (the drop of the top class's probability when each is silenced).

Grad-CAM (Selvaraju et al. 2017): a block's activations, weighted by the mean gradient of the top
class's logit over each channel, summed, rectified, scaled to [0, 1], averaged over the fold
networks. A log-Mel network is explained over the deciding window's log-Mel, at its last block; a
nested backbone (keras.applications' EfficientNetV2) is run as its own sub-model between the stem
and the head, and a model saved under mixed precision keeps its float16 policy on a CPU: its
gradients, not its activations, are cast to float32. The fine-tuned BirdNET is explained over
BirdNET's own spectrogram of the deciding 3 s window, at what its fine-tuned segments read (the
last frozen block's output), with BirdNET's frozen segments rebuilt in Keras in front of each fold.
"""

import dataclasses
import functools

import keras
import librosa
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ..blend.members import BirdNetNetworkMember  # noqa: E402
from ..competition.audio import cut_windows, resample  # noqa: E402
from ..config import NETWORK  # noqa: E402
from ..features.embeddings import BirdNetWindows, birdnet_file  # noqa: E402
from ..features.store import log_mel  # noqa: E402
from ..models import birdnet, explained_blocks  # noqa: E402
from ..run.reports import save_figure  # noqa: E402
from .predictor import Prediction, Predictor  # noqa: E402

OCCLUDED_SEGMENTS = 8  # parts of the window silenced one at a time
FEATURE_CHANNELS = 4  # most active channels shown per block
BIRDNET_SHOWN_BRANCH = 1  # BirdNET's 1024-sample branch: its bands span 0.5-15 kHz (the other's, up to 3 kHz)
BIRDNET_MAPS = ("CONV_0", "BLOCK_2-4_ADD")  # BirdNET's feature maps shown before the frozen segments' last output


def grad_cam(activations, gradients, shape) -> np.ndarray:
    """(rows, cols) in [0, 1]: the activations of one example weighted by their channels' mean gradient."""
    gradients = tf.cast(gradients, tf.float32)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(activations, tf.float32), axis=-1))[0]
    cam = tf.image.resize(cam[..., None], shape, method="bilinear")[..., 0].numpy()
    return cam / cam.max() if cam.max() > 0 else cam


def strongest_channels(activations) -> np.ndarray:
    """(channels, rows, cols) of one example's FEATURE_CHANNELS most active channels."""
    maps = np.asarray(tf.cast(activations[0], tf.float32))
    return np.moveaxis(maps[..., np.argsort(-maps.mean(axis=(0, 1)))[:FEATURE_CHANNELS]], -1, 0)


class NetworkProbe:
    """One log-Mel network, run so as to return the activations of chosen blocks and its logits."""

    def __init__(self, model):
        self.blocks = explained_blocks(model)
        holder = self.blocks[0][0]
        logits_layer = model.get_layer("probabilities")
        if holder is model:
            self.forward = keras.Model(model.input, [layer.output for _, layer in self.blocks] + [logits_layer.input])
        else:  # a nested backbone: its inputs are not the outer model's, so the three parts run in turn
            position = model.layers.index(holder)
            stem = keras.Model(model.input, model.layers[position - 1].output)
            inner = keras.Model(holder.input, [layer.output for _, layer in self.blocks] + [holder.output])
            head = model.layers[position + 1 : model.layers.index(logits_layer)]

            def forward(x, training=False):
                *activations, y = inner(stem(x, training=training), training=training)
                for layer in head:
                    y = layer(y, training=training)
                return [*activations, y]

            self.forward = forward
        self.names = [layer.name for _, layer in self.blocks]

    def grad_cam(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """(n_mels, frames) in [0, 1] for one log-Mel x of shape (n_mels, frames)."""
        with tf.GradientTape() as tape:
            *activations, logits = self.forward(tf.convert_to_tensor(x[None], tf.float32), training=False)
            score = logits[:, class_index]
        return grad_cam(activations[-1], tape.gradient(score, activations[-1]), x.shape)

    def feature_maps(self, x: np.ndarray) -> dict:
        """The first, a middle and the last block: layer name -> (channels, f, t) of its most active channels."""
        *activations, _ = self.forward(tf.convert_to_tensor(x[None], tf.float32), training=False)
        chosen = sorted({0, len(activations) // 2, len(activations) - 1})
        return {self.names[k]: strongest_channels(activations[k]) for k in chosen}


@functools.lru_cache(maxsize=16)
def probe_of(model) -> NetworkProbe:
    """A network's probe, built once (a server explains many clips with the same networks)."""
    return NetworkProbe(model)


class BirdNetProbe:
    """The fine-tuned BirdNET of each fold behind BirdNET's frozen segments, rebuilt in Keras from
    the shipped file, on 3 s waveform windows: BirdNET's spectrogram, feature maps, Grad-CAM."""

    def __init__(self, tuned: tuple, first_trained: str):
        weights = birdnet_file.read_tflite_weights(birdnet_file.model_file())
        before = birdnet.SEGMENTS[birdnet.SEGMENTS.index(first_trained) - 1]
        inputs, read = birdnet.build_segments("FRONT", before)
        front = keras.Model(inputs, read)
        birdnet.load_weights(front, weights)
        shown = [front.get_layer("MEL_SPEC").output, *(front.get_layer(n).output for n in BIRDNET_MAPS), read]
        self.forward = keras.Model(inputs, shown)
        self._forward = tf.function(self.forward, reduce_retracing=True)
        self.tuned = [keras.Model(model.input, model.get_layer("probabilities").input) for model in tuned]  # logits
        self.names = [*BIRDNET_MAPS, f"{before}: what the fine-tuned segments read"]

    def look(self, windows: np.ndarray, class_index: int) -> tuple:
        """(the window of `windows` that gave `class_index` its highest probability, averaged over
        the folds; its spectrogram (the branch shown, lowest band first); its Grad-CAM over that,
        in [0, 1], averaged over the folds; its feature maps), from one pass of the frozen segments
        over the windows, compiled once (a server explains many clips)."""
        spectrograms, *activations, read = self._forward(tf.convert_to_tensor(windows, tf.float32))
        best = int(np.argmax(np.mean([tf.nn.softmax(model(read))[:, class_index] for model in self.tuned], axis=0)))
        chosen = read[best : best + 1]
        maps = []
        for model in self.tuned:
            with tf.GradientTape() as tape:
                tape.watch(chosen)
                score = model(chosen)[:, class_index]
            maps.append(
                grad_cam(chosen, tape.gradient(score, chosen), (birdnet_file.N_MELS, birdnet_file.SPECTROGRAM_FRAMES))
            )
        features = {
            name: strongest_channels(a[best : best + 1])[:, ::-1] for name, a in zip(self.names, [*activations, read])
        }
        return (
            best,
            np.asarray(spectrograms)[best, ::-1, :, BIRDNET_SHOWN_BRANCH],
            np.mean(maps, axis=0)[::-1],
            features,
        )

    def band_hz(self) -> np.ndarray:
        """The centre frequency of each band of the branch shown, lowest first."""
        spectrogram = self.forward.get_layer("MEL_SPEC")
        _, start, bands, _ = spectrogram.branches[BIRDNET_SHOWN_BRANCH]
        start, bands = np.asarray(start), np.asarray(bands)
        length = spectrogram.frames[BIRDNET_SHOWN_BRANCH][0]
        centre_bin = start + (bands * np.arange(len(bands))[:, None]).sum(axis=0) / bands.sum(axis=0)
        return np.sort(centre_bin * birdnet_file.SAMPLE_RATE / length)


@functools.lru_cache(maxsize=4)
def birdnet_probe_of(tuned: tuple, first_trained: str) -> BirdNetProbe:
    return BirdNetProbe(tuned, first_trained)


@dataclasses.dataclass
class Explanation:
    prediction: Prediction
    waveform: np.ndarray  # the whole clip, mono
    sample_rate: int
    window_start: float  # the window explained
    window_seconds: float
    spectrogram: np.ndarray  # (bands, frames) of that window, lowest band first
    spectrogram_title: str
    band_hz: np.ndarray  # each band's centre frequency
    heatmap: np.ndarray | None  # Grad-CAM over `spectrogram`, [0, 1]; None without a network
    occlusion: np.ndarray | None  # per segment of the window: the top class's probability lost when it is silenced
    feature_maps: dict  # block name -> (channels, f, t)
    note: str  # what the heatmap explains


def explain(predictor: Predictor, prediction: Prediction) -> Explanation:
    """Why `prediction` (of predictor.predict) came out as it did, for its deciding window."""
    clip, rate, top = prediction.audio, prediction.sample_rate, prediction.top
    start = float(prediction.starts[prediction.deciding_window])
    audio = predictor.audio
    network = predictor.blend.network
    others = [m for m in predictor.members if m != NETWORK]
    blends = f"; the run blends it with {', '.join(others)}, which this map does not explain" if others else ""
    if network and isinstance(network.models[0], keras.Model) and isinstance(network, BirdNetNetworkMember):
        return _explain_birdnet(predictor, prediction, network.models, start, blends)
    if network and isinstance(network.models[0], keras.Model):  # not an exported model
        mel = log_mel(cut_windows(resample(clip, rate, audio.sample_rate), np.array([start]), audio)[0], audio)
        probes = [probe_of(model) for model in network.models]
        note = (
            "Grad-CAM of the network member"
            + (f" ({len(probes)} fold networks averaged)" if len(probes) > 1 else "")
            + blends
        )
        return Explanation(
            prediction,
            clip,
            rate,
            start,
            audio.duration,
            mel,
            "log-Mel of the deciding window",
            _mel_hz(mel, audio),
            np.mean([p.grad_cam(mel, top) for p in probes], axis=0),
            None,
            probes[0].feature_maps(mel),
            note,
        )
    mel = log_mel(cut_windows(resample(clip, rate, audio.sample_rate), np.array([start]), audio)[0], audio)
    occlusion = occlusion_curve(predictor, clip, rate, start, top, prediction.shown)
    why = "the run has no network" if network is None else "its network runs as TFLite"
    note = (
        f"no Grad-CAM ({why}): the bars are the {prediction.classes[top]} probability "
        f"({prediction.shown}) lost when each {audio.duration / OCCLUDED_SEGMENTS:g} s of the window is silenced"
    )
    return Explanation(
        prediction,
        clip,
        rate,
        start,
        audio.duration,
        mel,
        "log-Mel of the deciding window",
        _mel_hz(mel, audio),
        None,
        occlusion,
        {},
        note,
    )


def _explain_birdnet(
    predictor: Predictor, prediction: Prediction, tuned: list, start: float, blends: str
) -> Explanation:
    """Over BirdNET's spectrogram of the 3 s window (of the deciding window's five) that gave the
    top class its highest probability."""
    embedder = predictor.embedders[BirdNetWindows.name]
    config = embedder.extractor(predictor.audio).clip_config
    piece = cut_windows(
        resample(prediction.audio, prediction.sample_rate, config.sample_rate), np.array([start]), config
    )[0]
    windows = embedder.windows(piece)
    probe = birdnet_probe_of(tuple(tuned), predictor.config.tune_from)
    best, spectrogram, heatmap, feature_maps = probe.look(windows, prediction.top)
    note = (
        f"Grad-CAM of the fine-tuned BirdNET on what its segments from {predictor.config.tune_from} read"
        + (f" ({len(tuned)} fold networks averaged)" if len(tuned) > 1 else "")
        + blends
    )
    return Explanation(
        prediction,
        prediction.audio,
        prediction.sample_rate,
        start + best * embedder.hop_seconds,
        embedder.window_seconds,
        spectrogram,
        "BirdNET's spectrogram of the window that decided (its 1024-sample branch)",
        probe.band_hz(),
        heatmap,
        None,
        feature_maps,
        note,
    )


def _mel_hz(mel: np.ndarray, audio) -> np.ndarray:
    return librosa.mel_frequencies(mel.shape[0] + 2, fmin=audio.fmin, fmax=audio.fmax)[1:-1]


def occlusion_curve(
    predictor: Predictor, clip: np.ndarray, rate: int, start: float, top: int, shown: str
) -> np.ndarray:
    """For each of OCCLUDED_SEGMENTS parts of the window at `start`: the probability of class `top`
    lost when that part alone is silenced (model-agnostic: the whole blend, or the member shown)."""
    window = predictor.audio.duration
    piece = clip[int(start * rate) : int((start + window) * rate)]
    edges = np.linspace(0, len(piece), OCCLUDED_SEGMENTS + 1).astype(int)
    variants = [piece]
    for a, b in zip(edges[:-1], edges[1:]):
        silenced = piece.copy()
        silenced[a:b] = 0.0
        variants.append(silenced)
    probabilities = []
    for variant in variants:
        members = predictor.blend.predict(predictor.inputs_of(variant, rate, np.zeros(1)), np.array([rate]))
        probabilities.append((members[shown] if shown in members else predictor.blend.average(members))[0, top])
    return probabilities[0] - np.array(probabilities[1:])


def hz_ticks(e: Explanation) -> list:
    """(band, Hz) for a few round frequencies within the spectrogram's range."""
    return [
        (int(np.argmin(np.abs(e.band_hz - f))), f)
        for f in (125, 250, 500, 1000, 2000, 4000, 8000, 16000)
        if e.band_hz[0] <= f <= e.band_hz[-1]
    ]


def plot_explanation(explanation: Explanation, path) -> None:
    """One PNG: the waveform, the explained window's spectrogram with the heatmap (or the occlusion
    bars), the per-window timeline of a long clip, and the feature maps; labelled axes."""
    e, p = explanation, explanation.prediction
    rows = 2 + (len(p.starts) > 1) + bool(e.feature_maps)
    fig = plt.figure(figsize=(12, 3.1 * rows))
    grid = fig.add_gridspec(rows, max(1, FEATURE_CHANNELS * len(e.feature_maps)), hspace=0.55)
    ax = fig.add_subplot(grid[0, :])
    seconds = np.arange(len(e.waveform)) / e.sample_rate
    ax.plot(seconds, e.waveform, linewidth=0.5)
    ax.axvspan(
        e.window_start, e.window_start + e.window_seconds, alpha=0.15, color="tab:orange", label="the window explained"
    )
    ax.set(
        xlabel="time (s)", ylabel="amplitude", title=f"{p.path}: " + ", ".join(f"{c} {v:.2f}" for c, v in p.top_k(3))
    )
    ax.legend(loc="upper right", fontsize=8)
    ax = fig.add_subplot(grid[1, :])
    extent = (e.window_start, e.window_start + e.window_seconds, 0, e.spectrogram.shape[0])
    ax.imshow(e.spectrogram, origin="lower", aspect="auto", cmap="magma", extent=extent)
    if e.heatmap is not None:
        ax.imshow(e.heatmap, origin="lower", aspect="auto", cmap="jet", alpha=0.45, extent=extent, vmin=0, vmax=1)
    if e.occlusion is not None:
        lost = ax.twinx()
        edges = np.linspace(extent[0], extent[1], len(e.occlusion) + 1)
        lost.bar(edges[:-1], e.occlusion, width=np.diff(edges), align="edge", alpha=0.5, color="tab:cyan")
        lost.set_ylabel(f"{p.classes[p.top]} probability lost")
    ticks = hz_ticks(e)
    ax.set_yticks([band + 0.5 for band, _ in ticks], [f"{hz:g}" for _, hz in ticks])
    ax.set(xlabel="time (s)", ylabel="frequency (Hz)", title=f"{e.spectrogram_title}; {e.note}")
    ax.title.set_fontsize(9)
    row = 2
    if len(p.starts) > 1:
        ax = fig.add_subplot(grid[row, :])
        for k, name in enumerate(p.classes):
            ax.plot(p.starts + p.window_seconds / 2, p.windows[:, k], marker="o", markersize=3, label=name)
        ax.set(
            xlabel="time (s), the middle of each window",
            ylabel="probability",
            ylim=(0, 1),
            title=f"each window ({p.shown})",
        )
        ax.legend(fontsize=7, ncol=len(p.classes))
        row += 1
    for b, (name, maps) in enumerate(e.feature_maps.items()):
        for c, image in enumerate(maps):
            ax = fig.add_subplot(grid[row, b * FEATURE_CHANNELS + c])
            ax.imshow(image, origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_title(f"{name}: its {len(maps)} most active channels", fontsize=8, loc="left")
    fig.subplots_adjust(left=0.07, right=0.93, top=0.95, bottom=0.05)
    save_figure(fig, path, tight=False)
