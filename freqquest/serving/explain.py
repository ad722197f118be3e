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
import numpy as np
import scipy.ndimage
import tensorflow as tf

from ..blend.members import BirdNetNetworkMember, EmbeddingMember
from ..competition.audio import cut_windows, resample
from ..config import NETWORK
from ..features.embeddings import BirdNetWindows, birdnet_file
from ..features.store import log_mel
from ..models import birdnet, explained_blocks
from .predictor import Prediction, Predictor

OCCLUDED_SEGMENTS = 8  # parts of the window silenced one at a time
FEATURE_CHANNELS = 4  # most active channels shown per block
SIGNAL_LEVEL, SIGNAL_SHARE = 0.2, 0.05  # a map worth showing: a twentieth of it at a fifth of its peak or more
BIRDNET_SHOWN_BRANCH = 1  # BirdNET's 1024-sample branch: its bands span 0.5-15 kHz (the other's, up to 3 kHz)
BIRDNET_MAPS = ("CONV_0", "BLOCK_2-4_ADD")  # BirdNET's feature maps shown before the frozen segments' last output
EMBEDDING_EXPLANATION = "integrated-gradients"  # how the embedding's recipe is explained (benchmark_explain.py)
FEATURE_MAP_LAYER = "CONV_0"  # the embedding's recipe's feature maps: BirdNET's stem
IG_STEPS = 16
IG_SMOOTHING = 1.5  # cells of the spectrogram: a map a person reads, not one pixel's noise


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

    def feature_maps(self, x: np.ndarray, class_index: int) -> dict:
        """The first, a middle and the last block: layer name -> (channels, f, t) of the channels
        that tell `class_index` apart (telling_channels)."""
        with tf.GradientTape() as tape:
            *activations, logits = self.forward(tf.convert_to_tensor(x[None], tf.float32), training=False)
            score = logits[:, class_index]
        chosen = sorted({0, len(activations) // 2, len(activations) - 1})
        slopes = tape.gradient(score, [activations[k] for k in chosen])
        return {self.names[k]: telling_channels(activations[k], slope) for k, slope in zip(chosen, slopes)}


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
        return birdnet_band_hz(self.forward.get_layer("MEL_SPEC"))


def birdnet_band_hz(spectrogram, branch: int = BIRDNET_SHOWN_BRANCH) -> np.ndarray:
    """The centre frequency of each band of one branch of BirdNET's spectrogram layer, lowest first."""
    _, start, bands, _ = spectrogram.branches[branch]
    start, bands = np.asarray(start), np.asarray(bands)
    length = spectrogram.frames[branch][0]
    centre_bin = start + (bands * np.arange(len(bands))[:, None]).sum(axis=0) / bands.sum(axis=0)
    return np.sort(centre_bin * birdnet_file.SAMPLE_RATE / length)


@functools.lru_cache(maxsize=4)
def birdnet_probe_of(tuned: tuple, first_trained: str) -> BirdNetProbe:
    return BirdNetProbe(tuned, first_trained)


class EmbeddingProbe:
    """BirdNET rebuilt in Keras from the shipped file, from its spectrogram to its embedding, with a
    member's logistic regression on the embedding as its last layer (the standardization folded
    into the weights): the frozen embedding's recipe as one differentiable model. Every map explains
    the top class's logit less the mean of the others (what sets that class apart, not what raises
    every class alike).

    `method` "integrated-gradients": the attribution of each cell of the window's spectrogram,
    integrated along `IG_STEPS` steps from silence (Sundararajan et al. 2017); its positive part,
    both of BirdNET's spectrograms on the shown one's bands. "grad-cam:<layer>": Grad-CAM at that
    layer. Chosen by benchmarks/benchmark_explain.py. The feature maps shown are CONV_0's channels
    whose gradient-weighted activation sets the class apart most."""

    def __init__(self, classifier, n_classes: int, method: str = EMBEDDING_EXPLANATION):
        weights = birdnet_file.read_tflite_weights(birdnet_file.model_file())
        waveform = keras.Input((birdnet_file.WINDOW_SAMPLES,), name="waveform")
        self.spectrogram = keras.Model(waveform, birdnet.BirdNetSpectrogram(name="MEL_SPEC")(waveform))
        birdnet.load_weights(self.spectrogram, weights)
        inputs, embedding = birdnet.build_from_spectrogram()
        logits = keras.layers.Dense(n_classes, name="member_logits")(embedding)
        model = keras.Model(inputs, logits)
        birdnet.load_weights(model, weights)
        model.get_layer("member_logits").set_weights(_folded_regression(classifier, embedding.shape[-1], n_classes))
        self.layer = method.split(":", 1)[1] if method.startswith("grad-cam:") else FEATURE_MAP_LAYER
        self.model = keras.Model(inputs, [model.get_layer(self.layer).output, logits])
        self.method = method
        self._forward = tf.function(self._gradients, reduce_retracing=True)

    def band_hz(self, branch: int = BIRDNET_SHOWN_BRANCH) -> np.ndarray:
        return birdnet_band_hz(self.spectrogram.get_layer("MEL_SPEC"), branch)

    def _gradients(self, spectrograms, class_index):
        """(the layer's activations, the logits, their gradients and the spectrograms' of the class contrast)."""
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(spectrograms)
            activations, logits = self.model(spectrograms, training=False)
            n = tf.cast(tf.shape(logits)[1], tf.float32)
            score = logits[:, class_index] - (tf.reduce_sum(logits, axis=1) - logits[:, class_index]) / (n - 1)
        return activations, logits, tape.gradient(score, activations), tape.gradient(score, spectrograms)

    def look(self, windows: np.ndarray, class_index: int) -> tuple:
        """(the window of `windows` whose top-class logit stands out most; its spectrogram (the
        branch shown, lowest band first); its map, in [0, 1]; its feature maps)."""
        spectrograms = self.spectrogram(tf.convert_to_tensor(windows, tf.float32))
        activations, logits, slopes, _ = self._forward(spectrograms, tf.constant(class_index))
        logits = np.asarray(logits)
        best = int(np.argmax(logits[:, class_index] - np.delete(logits, class_index, axis=1).mean(axis=1)))
        chosen, slope = activations[best : best + 1], slopes[best : best + 1]
        if self.method == "integrated-gradients":
            heatmap = self._integrated(spectrograms[best], class_index)
        else:
            heatmap = grad_cam(chosen, slope, (birdnet_file.N_MELS, birdnet_file.SPECTROGRAM_FRAMES))[::-1]
        maps = {self.layer: telling_channels(chosen, slope)[:, ::-1]}
        return best, np.asarray(spectrograms)[best, ::-1, :, BIRDNET_SHOWN_BRANCH], heatmap, maps

    def _integrated(self, spectrogram, class_index: int) -> np.ndarray:
        """(bands, frames) in [0, 1], lowest band first: integrated gradients from silence."""
        steps = (np.arange(IG_STEPS, dtype=np.float32) + 0.5) / IG_STEPS
        path = tf.convert_to_tensor(steps[:, None, None, None]) * spectrogram[None]
        _, _, _, slopes = self._forward(path, tf.constant(class_index))
        attribution = np.asarray(spectrogram) * np.asarray(slopes).mean(axis=0)  # (bands high first, frames, branches)
        shown = self.band_hz()
        total = attribution[::-1, :, BIRDNET_SHOWN_BRANCH].copy()
        for branch in range(attribution.shape[-1]):
            if branch != BIRDNET_SHOWN_BRANCH:  # the other spectrogram's bands, onto the shown one's by frequency
                hz, values = self.band_hz(branch), attribution[::-1, :, branch]
                total += np.stack([np.interp(shown, hz, column, left=0.0, right=0.0) for column in values.T], axis=1)
        heatmap = scipy.ndimage.gaussian_filter(np.maximum(total, 0.0), sigma=IG_SMOOTHING)
        return heatmap / heatmap.max() if heatmap.max() > 0 else heatmap


def _folded_regression(classifier, dim: int, n_classes: int) -> list:
    """[kernel, bias] of a Dense layer that computes a standardizing logistic regression's logits."""
    scaler, regression = classifier[0], classifier[-1]
    kernel = np.zeros((dim, n_classes), np.float32)
    bias = np.full(n_classes, -30.0, np.float32)  # a class the regression never saw: never the top one
    kernel[:, regression.classes_] = (regression.coef_ / scaler.scale_).T
    bias[regression.classes_] = regression.intercept_ - (regression.coef_ * scaler.mean_ / scaler.scale_).sum(axis=1)
    return [kernel, bias]


def telling_channels(activations, gradients) -> np.ndarray:
    """(channels, rows, cols) of one example's FEATURE_CHANNELS channels whose activation, weighted
    by the mean gradient of the class score, adds most to it: the maps that tell the class apart.
    Among the first few by that measure, those that light up a part of the window worth seeing
    come first (a channel whose weight is large but which fires on a few pixels shows an empty map)."""
    maps = np.asarray(tf.cast(activations[0], tf.float32))
    weights = np.asarray(tf.reduce_mean(tf.cast(gradients[0], tf.float32), axis=(0, 1)))
    ranked = np.argsort(-(weights * maps.mean(axis=(0, 1))))[: 3 * FEATURE_CHANNELS]
    peaks = np.maximum(maps.max(axis=(0, 1)), 1e-12)
    lit = np.mean(maps >= SIGNAL_LEVEL * peaks, axis=(0, 1))[ranked] >= SIGNAL_SHARE
    chosen = np.concatenate([ranked[lit], ranked[~lit]])[:FEATURE_CHANNELS]
    return np.moveaxis(maps[..., chosen], -1, 0)


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

    @property
    def explained_span(self) -> tuple[float, float]:
        return self.window_start, self.window_start + self.window_seconds

    def describe_explained(self) -> str:
        """The window explained, named the same in the picture, the page and the API: the deciding
        window itself, or the part of it the map is taken over (BirdNET hears 3 s of the 4)."""
        start, end = self.explained_span
        if (start, end) == self.prediction.deciding_span:
            return self.prediction.describe_deciding()
        explained = f"the {self.window_seconds:g} s explained ({start:.2f}-{end:.2f} s)"
        return f"{explained} of {self.prediction.describe_deciding()}"

    @property
    def title(self) -> str:
        """The spectrogram's title: what it shows, and which window, in seconds of the clip."""
        return f"{self.spectrogram_title}, {self.describe_explained()}"

    def hz_ticks(self) -> list:
        """(band, Hz) for a few round frequencies within the spectrogram's range."""
        return [
            (int(np.argmin(np.abs(self.band_hz - f))), f)
            for f in (125, 250, 500, 1000, 2000, 4000, 8000, 16000)
            if self.band_hz[0] <= f <= self.band_hz[-1]
        ]


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
    embedding = next((m for m in predictor.blend.members if isinstance(m, EmbeddingMember)), None)
    if network is None and embedding is not None:
        others = [m.label for m in predictor.blend.members if m is not embedding]
        blends = f"; the run blends it with {', '.join(others)}, which this map does not explain" if others else ""
        return _explain_embedding(predictor, prediction, embedding, start, blends)
    mel = log_mel(cut_windows(resample(clip, rate, audio.sample_rate), np.array([start]), audio)[0], audio)
    if network and isinstance(network.models[0], keras.Model):  # not an exported model
        probes = [probe_of(model) for model in network.models]
        heatmap, occlusion = np.mean([p.grad_cam(mel, top) for p in probes], axis=0), None
        feature_maps = probes[0].feature_maps(mel, top)
        averaged = f" ({len(probes)} fold networks averaged)" if len(probes) > 1 else ""
        note = f"Grad-CAM of the network member{averaged}{blends}"
    else:
        heatmap, feature_maps = None, {}
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
        "log-Mel",
        _mel_hz(mel, audio),
        heatmap,
        occlusion,
        feature_maps,
        note,
    )


def _explain_birdnet(
    predictor: Predictor, prediction: Prediction, tuned: list, start: float, blends: str
) -> Explanation:
    """Over BirdNET's spectrogram of the 3 s window (of the deciding window's five) that gave the
    top class its highest probability."""
    note = (
        f"Grad-CAM of the fine-tuned BirdNET on what its segments from {predictor.config.tune_from} read"
        + (f" ({len(tuned)} fold networks averaged)" if len(tuned) > 1 else "")
        + blends
    )
    return _over_birdnet_windows(
        predictor,
        prediction,
        predictor.embedders[BirdNetWindows.name],
        start,
        birdnet_probe_of(tuple(tuned), predictor.config.tune_from),
        "BirdNET's spectrogram (its 1024-sample branch)",
        note,
    )


def _explain_embedding(
    predictor: Predictor, prediction: Prediction, member: EmbeddingMember, start: float, blends: str
) -> Explanation:
    """Over BirdNET's spectrogram of the 3 s window (of the embedding's three in the deciding window)
    whose top-class logit stands out most: integrated gradients of the member's logistic regression
    on BirdNET's embedding, through BirdNET rebuilt in Keras."""
    top = prediction.classes[prediction.top]
    return _over_birdnet_windows(
        predictor,
        prediction,
        predictor.embedders[member.name],
        start,
        embedding_probe_of(member.model, len(predictor.classes)),
        "BirdNET's spectrogram",
        f"integrated gradients: where {top} is told apart from the other classes{blends}",
    )


def _over_birdnet_windows(predictor, prediction, embedder, start: float, probe, title: str, note: str) -> Explanation:
    """`probe`'s map over the one of `embedder`'s windows in the deciding window that it picks."""
    best, spectrogram, heatmap, feature_maps = probe.look(
        embedder_windows(predictor, embedder, prediction, start), prediction.top
    )
    return Explanation(
        prediction,
        prediction.audio,
        prediction.sample_rate,
        start + best * embedder.hop_seconds,
        embedder.window_seconds,
        spectrogram,
        title,
        probe.band_hz(),
        heatmap,
        None,
        feature_maps,
        note,
    )


def embedder_windows(predictor: Predictor, embedder, prediction: Prediction, start: float) -> np.ndarray:
    """The embedder's windows of the clip's window at `start`, as it cuts a file's clip."""
    config = embedder.extractor(predictor.audio).clip_config
    clip = resample(prediction.audio, prediction.sample_rate, config.sample_rate)
    return embedder.windows(cut_windows(clip, np.array([start]), config)[0])


@functools.lru_cache(maxsize=4)
def embedding_probe_of(classifier, n_classes: int) -> EmbeddingProbe:
    """A classifier's probe, built once (a server explains many clips with one run)."""
    return EmbeddingProbe(classifier, n_classes)


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
