import keras
import numpy as np
import pytest

from freqquest.inference import predict_ensemble, predict_proba, to_class_names, tta_views
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
