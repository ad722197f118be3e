"""Explanations of the default recipe (BirdNET's frozen embedding and a logistic regression on it)
that pass sanity checks: (a) the map depends on what the model learned, (b) it points at a short
event inserted at a known time and band, (c) the feature maps shown are those that tell the class
apart, not the most active ones."""

import copy

import numpy as np
import pytest

from freqquest.blend.classical import load_classical
from freqquest.features.embeddings.birdnet_file import SAMPLE_RATE, WINDOW_SAMPLES
from freqquest.runs import classical_dir
from freqquest.serving import explain, explanation_figure
from freqquest.serving.predictor import Predictor

from .conftest import needs_birdnet

CLASSES = ["dog_bark", "drilling", "engine_idling", "siren", "street_music"]


def sweep_in_noise(start: float, low: float, seconds: float = 0.6, seed: int = 0) -> np.ndarray:
    """A 3 s window at 48 kHz: quiet noise, and a siren-like sweep from `low` to 1.6 `low` Hz at `start` s."""
    rng = np.random.default_rng(seed)
    window = rng.normal(0, 0.02, WINDOW_SAMPLES).astype(np.float32)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    sweep = 0.5 * np.sin(2 * np.pi * np.cumsum(low + 0.6 * low * t / seconds) / SAMPLE_RATE)
    first = int(start * SAMPLE_RATE)
    window[first : first + len(sweep)] += sweep.astype(np.float32)
    return window


@pytest.fixture(scope="module")
def classifier(birdnet_run):
    return load_classical(classical_dir(birdnet_run), "birdnet")


@pytest.fixture(scope="module")
def probe(classifier):
    return explain.EmbeddingProbe(classifier, len(CLASSES))


@needs_birdnet
@pytest.mark.parametrize("start,low", [(0.4, 800.0), (1.3, 1200.0), (2.2, 1000.0)])
def test_the_map_points_at_the_event_in_time_and_band(probe, start, low):
    """(b) the peak of the map lies within the sweep's time and band, give or take a tenth of a second
    and a few bands."""
    window = sweep_in_noise(start, low)
    top = int(np.argmax(probe.model(probe.spectrogram(window[None]))[1]))
    best, spectrogram, heatmap, _ = probe.look(window[None], top)
    assert best == 0 and spectrogram.shape == heatmap.shape == (96, 511)
    assert heatmap.min() >= 0 and heatmap.max() == pytest.approx(1.0)
    band, frame = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    seconds = (frame + 0.5) * 3.0 / heatmap.shape[1]
    assert start - 0.1 <= seconds <= start + 0.7
    hz = probe.band_hz()
    assert hz[max(band - 3, 0)] <= 1.6 * low and hz[min(band + 3, 95)] >= low


@needs_birdnet
def test_the_map_depends_on_what_the_model_learned(classifier, probe):
    """(a) the model-randomization check (Adebayo et al. 2018): the same BirdNET with the logistic
    regression's weights drawn at random gives another map."""
    randomized = copy.deepcopy(classifier)
    randomized[-1].coef_ = np.random.default_rng(1).normal(0, classifier[-1].coef_.std(), classifier[-1].coef_.shape)
    other = explain.EmbeddingProbe(randomized, len(CLASSES))
    correlations = []
    for start, low in ((0.4, 800.0), (1.3, 1200.0), (2.2, 1000.0)):
        window = sweep_in_noise(start, low)
        top = int(np.argmax(probe.model(probe.spectrogram(window[None]))[1]))
        trained, random = probe.look(window[None], top)[2], other.look(window[None], top)[2]
        correlations.append(np.corrcoef(trained.ravel(), random.ravel())[0, 1] if random.std() > 0 else 0.0)
    assert np.mean(correlations) < 0.5


def test_the_channels_shown_tell_the_class_apart_not_the_most_active():
    """(c) a channel bright everywhere (as padding makes one) but indifferent to the class is passed
    over; the channels whose activation the class score rises with are shown, strongest first."""
    activations = np.zeros((1, 6, 10, 8), np.float32)
    activations[..., 0] = 9.0  # bright, indifferent
    activations[..., 1:] = np.arange(1, 8, dtype=np.float32)
    gradients = np.zeros_like(activations)
    gradients[..., 0] = 0.0
    gradients[..., 1:] = np.array([0.5, -1.0, 0.1, 0.3, 0.0, 0.25, 0.05], np.float32)
    shown = explain.telling_channels(activations, gradients)
    assert shown.shape == (explain.FEATURE_CHANNELS, 6, 10)
    # weight x mean activation: 0.5, -2, 0.3, 1.2, 0, 1.5, 0.35 for channels 1..7
    np.testing.assert_array_equal(shown[:, 0, 0], [6.0, 4.0, 1.0, 7.0])


@needs_birdnet
def test_the_default_run_is_explained_over_birdnets_spectrogram(birdnet_run, demo_root, tmp_path):
    predictor = Predictor(birdnet_run)
    clips = {}
    for clip in sorted((demo_root / "test" / "test").iterdir()):
        prediction = predictor.predict(clip)
        clips.setdefault(prediction.classes[prediction.top], (clip, prediction))
    e = explain.explain(predictor, clips["siren"][1])
    assert e.spectrogram.shape == e.heatmap.shape == (96, 511) and e.occlusion is None and e.window_seconds == 3.0
    assert e.note.startswith("integrated gradients: where siren is told apart from the other classes")
    assert list(e.feature_maps) == ["CONV_0"]
    dog = explain.explain(predictor, clips["dog_bark"][1])
    assert not np.array_equal(e.feature_maps[list(e.feature_maps)[0]], dog.feature_maps[list(dog.feature_maps)[0]])
    explanation_figure.plot_explanation(e, tmp_path / "siren.png")
    assert (tmp_path / "siren.png").stat().st_size > 50_000
