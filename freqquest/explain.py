"""Why a run answered as it did, for one clip: where in the log-Mel its network looked (Grad-CAM
of the top class over the deciding window), what its convolutional blocks saw (feature maps of
the first, a middle and the last), and, for a run without a network, which moments of the window
the answer rests on (the drop of the top class's probability when each is silenced).

Grad-CAM (Selvaraju et al. 2017): the last convolutional block's activations, weighted by the
mean gradient of the top class's logit over each channel, summed, rectified, scaled to [0, 1],
averaged over the fold networks. A nested backbone (keras.applications' EfficientNetV2) is run as
its own sub-model between the stem and the head, and a model saved under mixed precision keeps
its float16 policy on a CPU: its gradients, not its activations, are cast to float32.
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

from .audio import cut_windows, decode, resample  # noqa: E402
from .config import NETWORK  # noqa: E402
from .features import log_mel  # noqa: E402
from .inference import average_members, predict_members  # noqa: E402
from .predict import Prediction, Predictor  # noqa: E402
from .reports import save_figure  # noqa: E402

OCCLUDED_SEGMENTS = 8  # parts of the window silenced one at a time
FEATURE_CHANNELS = 4  # most active channels shown per block


def block_outputs(model) -> list:
    """The layers that end the convolutional blocks of one of our networks, first to last, as
    (the model that holds them, layer)."""
    if model.name == "efficientnetv2b0":
        backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
        names = ["stem_activation"] + [l.name for l in backbone.layers if l.name.endswith("_add")] + ["top_activation"]
        return [(backbone, backbone.get_layer(name)) for name in names]
    if model.name == "resnet":
        adds = [l for l in model.layers if isinstance(l, keras.layers.Add)]
        return [(model, l) for l in adds] + [(model, [l for l in model.layers if isinstance(l, keras.layers.ReLU)][-1])]
    return [(model, l) for l in model.layers if isinstance(l, keras.layers.ReLU)]


class NetworkProbe:
    """One network, run so as to return the activations of chosen blocks and its logits."""

    def __init__(self, model):
        self.blocks = block_outputs(model)
        holder = self.blocks[0][0]
        logits_layer = model.get_layer("probabilities")
        if holder is model:
            self.forward = keras.Model(model.input, [layer.output for _, layer in self.blocks] + [logits_layer.input])
        else:  # a nested backbone: its inputs are not the outer model's, so the three parts run in turn
            position = model.layers.index(holder)
            stem = keras.Model(model.input, model.layers[position - 1].output)
            inner = keras.Model(holder.input, [layer.output for _, layer in self.blocks] + [holder.output])
            head = model.layers[position + 1: model.layers.index(logits_layer)]

            def forward(x, training=False):
                *activations, y = inner(stem(x, training=training), training=training)
                for layer in head:
                    y = layer(y, training=training)
                return [*activations, y]

            self.forward = forward
        self.names = [layer.name for _, layer in self.blocks]

    def grad_cam(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """(n_mels, frames) in [0, 1] for one log-Mel x of shape (n_mels, frames)."""
        inputs = tf.convert_to_tensor(x[None], tf.float32)
        with tf.GradientTape() as tape:
            *activations, logits = self.forward(inputs, training=False)
            score = logits[:, class_index]
        last = activations[-1]
        gradients = tf.cast(tape.gradient(score, last), tf.float32)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(last, tf.float32), axis=-1))[0]
        cam = tf.image.resize(cam[..., None], x.shape, method="bilinear")[..., 0].numpy()
        return cam / cam.max() if cam.max() > 0 else cam

    def feature_maps(self, x: np.ndarray) -> dict:
        """The first, a middle and the last block: layer name -> (channels, f, t) of its most active channels."""
        *activations, _ = self.forward(tf.convert_to_tensor(x[None], tf.float32), training=False)
        chosen = sorted({0, len(activations) // 2, len(activations) - 1})
        out = {}
        for k in chosen:
            maps = np.asarray(tf.cast(activations[k][0], tf.float32))
            strongest = np.argsort(-maps.mean(axis=(0, 1)))[:FEATURE_CHANNELS]
            out[self.names[k]] = np.moveaxis(maps[..., strongest], -1, 0)
        return out


@functools.lru_cache(maxsize=16)
def probe_of(model) -> NetworkProbe:
    """A network's probe, built once (a server explains many clips with the same networks)."""
    return NetworkProbe(model)


@dataclasses.dataclass
class Explanation:
    prediction: Prediction
    waveform: np.ndarray  # the whole clip, mono at the run's sample rate
    sample_rate: int
    window_start: float  # the deciding window
    window_seconds: float
    log_mel: np.ndarray  # (n_mels, frames) of the deciding window
    fmin: float
    fmax: float
    heatmap: np.ndarray | None  # Grad-CAM over `log_mel`, [0, 1]; None without a network
    occlusion: np.ndarray | None  # per segment of the window: the top class's probability lost when it is silenced
    feature_maps: dict  # block name -> (channels, f, t)
    note: str  # what the heatmap explains


def explain(predictor: Predictor, path, prediction: Prediction) -> Explanation:
    clip, rate = decode(path)
    window = prediction.deciding_window
    start = float(prediction.starts[window])
    audio = predictor.audio
    waveform = resample(clip, rate, audio.sample_rate)
    mel = log_mel(cut_windows(waveform, np.array([start]), audio)[0], audio)
    top = prediction.top
    members = predictor.members
    if predictor.blend.networks and isinstance(predictor.blend.networks[0], keras.Model):  # not an exported model
        probes = [probe_of(model) for model in predictor.blend.networks]
        heatmap = np.mean([probe.grad_cam(mel, top) for probe in probes], axis=0)
        feature_maps = probes[0].feature_maps(mel)
        others = [m for m in members if m != NETWORK]
        note = ("Grad-CAM of the network member" + (f" ({len(probes)} fold networks averaged)" if len(probes) > 1 else "")
                + (f"; the run blends it with {', '.join(others)}, which this map does not explain" if others else ""))
        return Explanation(prediction, waveform, audio.sample_rate, start, audio.duration, mel, audio.fmin, audio.fmax,
                           heatmap, None, feature_maps, note)
    occlusion = occlusion_curve(predictor, clip, rate, start, top, prediction.shown)
    why = "the run has no network" if not predictor.blend.networks else "its network runs as TFLite"
    note = (f"no Grad-CAM ({why}): the bars are the {prediction.classes[top]} probability "
            f"({prediction.shown}) lost when each {audio.duration / OCCLUDED_SEGMENTS:g} s of the window is silenced")
    return Explanation(prediction, waveform, audio.sample_rate, start, audio.duration, mel, audio.fmin, audio.fmax, None,
                       occlusion, {}, note)


def occlusion_curve(predictor: Predictor, clip: np.ndarray, rate: int, start: float, top: int, shown: str) -> np.ndarray:
    """For each of OCCLUDED_SEGMENTS parts of the window at `start`: the probability of class `top`
    lost when that part alone is silenced (model-agnostic: the whole blend, or the member shown)."""
    window = predictor.audio.duration
    piece = clip[int(start * rate): int((start + window) * rate)]
    edges = np.linspace(0, len(piece), OCCLUDED_SEGMENTS + 1).astype(int)
    variants = [piece]
    for a, b in zip(edges[:-1], edges[1:]):
        silenced = piece.copy()
        silenced[a:b] = 0.0
        variants.append(silenced)
    probabilities = []
    for variant in variants:
        members = predict_members(predictor.blend, predictor.inputs_of(variant, rate, np.zeros(1)), predictor.config.tta,
                                  np.array([rate]))
        probabilities.append((members[shown] if shown in members else average_members(members))[0, top])
    return probabilities[0] - np.array(probabilities[1:])


def plot_explanation(explanation: Explanation, path) -> None:
    """One PNG: the waveform, the deciding window's log-Mel with the heatmap (or the occlusion
    bars), the per-window timeline of a long clip, and the feature maps; labelled axes."""
    e, p = explanation, explanation.prediction
    rows = 2 + (len(p.starts) > 1) + bool(e.feature_maps)
    fig = plt.figure(figsize=(12, 3.1 * rows))
    grid = fig.add_gridspec(rows, max(1, FEATURE_CHANNELS * len(e.feature_maps)), hspace=0.55)
    ax = fig.add_subplot(grid[0, :])
    seconds = np.arange(len(e.waveform)) / e.sample_rate
    ax.plot(seconds, e.waveform, linewidth=0.5)
    ax.axvspan(e.window_start, e.window_start + e.window_seconds, alpha=0.15, color="tab:orange", label="the deciding window")
    ax.set(xlabel="time (s)", ylabel="amplitude", title=f"{p.path}: " + ", ".join(f"{c} {v:.2f}" for c, v in p.top_k(3)))
    ax.legend(loc="upper right", fontsize=8)
    ax = fig.add_subplot(grid[1, :])
    extent = (e.window_start, e.window_start + e.window_seconds, 0, e.log_mel.shape[0])
    ax.imshow(e.log_mel, origin="lower", aspect="auto", cmap="magma", extent=extent)
    if e.heatmap is not None:
        ax.imshow(e.heatmap, origin="lower", aspect="auto", cmap="jet", alpha=0.45, extent=extent, vmin=0, vmax=1)
    if e.occlusion is not None:
        lost = ax.twinx()
        edges = np.linspace(extent[0], extent[1], len(e.occlusion) + 1)
        lost.bar(edges[:-1], e.occlusion, width=np.diff(edges), align="edge", alpha=0.5, color="tab:cyan")
        lost.set_ylabel(f"{p.classes[p.top]} probability lost")
    _hz_axis(ax, e)
    ax.set(xlabel="time (s)", title=f"log-Mel of the deciding window; {e.note}")
    ax.title.set_fontsize(9)
    row = 2
    if len(p.starts) > 1:
        ax = fig.add_subplot(grid[row, :])
        for k, name in enumerate(p.classes):
            ax.plot(p.starts + e.window_seconds / 2, p.windows[:, k], marker="o", markersize=3, label=name)
        ax.set(xlabel="time (s), the middle of each window", ylabel="probability", ylim=(0, 1),
               title=f"each window ({p.shown})")
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


def hz_ticks(e: Explanation) -> list:
    """(Mel band, Hz) for a few round frequencies within the log-Mel's range."""
    centres = librosa.mel_frequencies(e.log_mel.shape[0] + 2, fmin=e.fmin, fmax=e.fmax)[1:-1]
    return [(int(np.argmin(np.abs(centres - f))), f) for f in (125, 250, 500, 1000, 2000, 4000, 8000)
            if centres[0] <= f <= centres[-1]]


def _hz_axis(ax, e: Explanation) -> None:
    """Mel bands labelled by their frequency in Hz."""
    ticks = hz_ticks(e)
    ax.set_yticks([band for band, _ in ticks], [f"{hz:g}" for _, hz in ticks])
    ax.set_ylabel("frequency (Hz)")
