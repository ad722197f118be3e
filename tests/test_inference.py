import keras
import numpy as np
import pytest

from freqquest.classical import fit_classical, predict_classical
from freqquest.inference import (NETWORK, Blend, average_members, predict_ensemble, predict_members, predict_proba,
                                 to_class_names, tta_views)
from freqquest.inputs import ClipInputs
from freqquest.models import build_model

SHAPE = (16, 20)


@pytest.fixture(scope="module")
def models():
    return [build_model("cnn", SHAPE, 4, width=4) for _ in range(2)]


@pytest.fixture
def features():
    return np.random.default_rng(0).normal(-40, 10, size=(5, *SHAPE)).astype(np.float32)


def test_tta_views_are_evenly_spaced_rolls_starting_with_the_clip(features):
    views = list(tta_views(features, 4))
    assert len(views) == 4
    np.testing.assert_array_equal(views[0], features)
    for k, view in enumerate(views):
        np.testing.assert_array_equal(view, np.roll(features, -5 * k, axis=-1))


def test_an_ensemble_of_identical_models_gives_the_single_models_probabilities(models, features):
    twin = keras.models.clone_model(models[0])
    twin.set_weights(models[0].get_weights())
    single = predict_proba(models[0], features)
    np.testing.assert_allclose(predict_ensemble([models[0], twin, models[0]], features), single, rtol=1e-6)


def test_the_ensemble_is_the_mean_over_models_and_views(models, features):
    expected = np.mean([predict_proba(m, v) for m in models for v in tta_views(features, 3)], axis=0)
    got = predict_ensemble(models, features, tta=3)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
    assert got.shape == (5, 4) and got.dtype == np.float32


def test_one_view_of_one_model_is_plain_prediction(models, features):
    np.testing.assert_array_equal(predict_ensemble(models[:1], features, tta=1), predict_proba(models[0], features))


def test_an_empty_ensemble_is_an_error(features):
    with pytest.raises(ValueError, match="at least one model"):
        predict_ensemble([], features)


def test_unusable_rows_get_the_fallback_class():
    probabilities = np.array([[0.1, 0.9], [0.8, 0.2], [0.5, 0.5]], dtype=np.float32)
    assert to_class_names(probabilities, ["a", "b"], np.array([True, True, False]), "a") == ["b", "a", "a"]


def test_members_are_the_network_ensemble_and_each_classical_models_average(models, features):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, *SHAPE)).astype(np.float32), np.arange(20) % 4
    logregs = [fit_classical("logreg", ClipInputs(x), y, seed=0), fit_classical("logreg", ClipInputs(x[::-1] * 2), y[::-1], seed=0)]
    members = predict_members(Blend(4, models, {"logreg": logregs}), ClipInputs(features), tta=2)
    assert list(members) == [NETWORK, "logreg"]
    np.testing.assert_allclose(members[NETWORK], predict_ensemble(models, features, tta=2), rtol=1e-6)
    expected = sum(predict_classical("logreg", m, ClipInputs(features), 4) for m in logregs) / 2
    np.testing.assert_allclose(members["logreg"], expected, rtol=1e-6)


def test_a_blend_without_classical_models_is_the_network_alone(models, features):
    members = predict_members(Blend(4, models[:1]), ClipInputs(features))
    assert list(members) == [NETWORK]
    np.testing.assert_array_equal(average_members(members), predict_proba(models[0], features))


def test_the_blend_is_the_unweighted_mean_of_the_members():
    a = np.array([[0.2, 0.8], [1.0, 0.0]], np.float32)
    b = np.array([[0.6, 0.4], [0.0, 1.0]], np.float64)
    got = average_members({NETWORK: a, "svm": b})
    np.testing.assert_allclose(got, [[0.4, 0.6], [0.5, 0.5]], rtol=1e-6)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(average_members({NETWORK: a, "logreg": a, "svm": a}), a)


def test_clips_at_a_matched_rate_get_that_rates_classical_models(models, features):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(20, *SHAPE)).astype(np.float32), np.arange(20) % 4
    general, matched = fit_classical("logreg", ClipInputs(x), y, seed=0), fit_classical("logreg", ClipInputs(-x), y, seed=0)
    blend = Blend(4, models, {"logreg": [general]}, {8000: {"logreg": [matched]}})
    rates = np.array([44100, 8000, 0, 8000, 16000])
    members = predict_members(blend, ClipInputs(features), tta=1, rates=rates)
    at_8k = rates == 8000
    np.testing.assert_allclose(members["logreg"][at_8k], predict_classical("logreg", matched, ClipInputs(features[at_8k]), 4),
                               rtol=1e-6)
    np.testing.assert_allclose(members["logreg"][~at_8k], predict_classical("logreg", general, ClipInputs(features[~at_8k]), 4),
                               rtol=1e-6)
    np.testing.assert_allclose(members[NETWORK], predict_ensemble(models, features), rtol=1e-6)  # the network is not matched
    without_rates = predict_members(blend, ClipInputs(features))
    np.testing.assert_allclose(without_rates["logreg"], predict_classical("logreg", general, ClipInputs(features), 4), rtol=1e-6)
