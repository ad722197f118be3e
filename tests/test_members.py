import logging

import keras
import numpy as np
import pytest

from freqquest.blend.classical import ModelFolder
from freqquest.blend.members import (
    Blend,
    ClassicalMember,
    NetworkMember,
    average_members,
    predict_ensemble,
    predict_proba,
    train_folds,
    tta_views,
)
from freqquest.classify.validation import describe_before_set
from freqquest.config import NETWORK, TrainConfig
from freqquest.features.inputs import ClipInputs
from freqquest.models import build_model
from freqquest.runs import FOLD_DONE

from .conftest import fit_classical, predict_classical

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


def test_the_blend_asks_each_member_in_its_order(models, features):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, *SHAPE)).astype(np.float32), np.arange(20) % 4
    logreg = fit_classical("logreg", ClipInputs(x), y, seed=0)
    blend = Blend(4, [NetworkMember(models, tta=2), ClassicalMember("logreg", logreg, 4)])
    members = blend.predict(ClipInputs(features))
    assert list(members) == [NETWORK, "logreg"] and blend.network is blend.members[0]
    np.testing.assert_allclose(members[NETWORK], predict_ensemble(models, features, tta=2), rtol=1e-6)
    np.testing.assert_allclose(
        members["logreg"], predict_classical("logreg", logreg, ClipInputs(features), 4), rtol=1e-6
    )
    assert members["logreg"].shape == (5, 4) and members["logreg"].dtype == np.float32
    assert [m.name for m in blend.matchable()] == ["logreg"]


def test_a_blend_without_classical_models_is_the_network_alone(models, features):
    blend = Blend(4, [NetworkMember(models[:1])])
    members = blend.predict(ClipInputs(features))
    assert list(members) == [NETWORK] and blend.matchable() == []
    np.testing.assert_array_equal(blend.average(members), predict_proba(models[0], features))


def test_the_blend_weighs_its_members():
    a = np.array([[0.2, 0.8], [1.0, 0.0]], np.float32)
    b = np.array([[0.6, 0.4], [0.0, 1.0]], np.float32)
    heavy = ClassicalMember("svm", None, 2)
    heavy.weight = 3.0
    blend = Blend(2, [NetworkMember([]), heavy])
    np.testing.assert_allclose(blend.average({NETWORK: a, "svm": b}), [[0.5, 0.5], [0.25, 0.75]], rtol=1e-6)
    np.testing.assert_array_equal(blend.average({NETWORK: a}), a)


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
    general, matched = (
        fit_classical("logreg", ClipInputs(x), y, seed=0),
        fit_classical("logreg", ClipInputs(-x), y, seed=0),
    )
    blend = Blend(4, [NetworkMember(models), ClassicalMember("logreg", general, 4, {8000: matched})])
    rates = np.array([44100, 8000, 0, 8000, 16000])
    members = blend.predict(ClipInputs(features), rates)
    at_8k = rates == 8000
    np.testing.assert_allclose(
        members["logreg"][at_8k], predict_classical("logreg", matched, ClipInputs(features[at_8k]), 4), rtol=1e-6
    )
    np.testing.assert_allclose(
        members["logreg"][~at_8k], predict_classical("logreg", general, ClipInputs(features[~at_8k]), 4), rtol=1e-6
    )
    np.testing.assert_allclose(
        members[NETWORK], predict_ensemble(models, features), rtol=1e-6
    )  # the network is not matched
    without_rates = blend.predict(ClipInputs(features))
    np.testing.assert_allclose(
        without_rates["logreg"], predict_classical("logreg", general, ClipInputs(features), 4), rtol=1e-6
    )


def test_a_member_knows_whether_a_fold_made_it_before(tmp_path):
    assert not ClassicalMember.saved_in("logreg", tmp_path) and not NetworkMember.saved_in(NETWORK, tmp_path)
    x, y = np.random.default_rng(0).normal(size=(8, *SHAPE)).astype(np.float32), np.arange(8) % 2
    ClassicalMember.fitted("logreg", ModelFolder(str(tmp_path)), ClipInputs(x), y, seed=0)
    (tmp_path / FOLD_DONE).write_text("{}")
    assert ClassicalMember.saved_in("logreg", tmp_path) and NetworkMember.saved_in(NETWORK, tmp_path)
    assert not ClassicalMember.saved_in("svm", tmp_path)


def test_a_resumed_run_says_its_finished_folds_are_loaded_not_made_again(tmp_path, caplog):
    """--resume printed each finished fold as if it were fitted again."""
    rng = np.random.default_rng(0)
    y = np.arange(20) % 2
    x = (rng.normal(size=(20, *SHAPE)) + 3 * y[:, None, None]).astype(np.float32)
    config = TrainConfig(model="none", blend="logreg", folds=2)
    caplog.set_level(logging.INFO)
    first = [blend for _, blend, _, _ in train_folds(ClipInputs(x), y, np.arange(20), 2, config, tmp_path)]
    assert caplog.text.count("training clips") == 2 and "finished before" not in caplog.text
    caplog.clear()
    (tmp_path / "fold_2" / "logreg.joblib").unlink()  # the run was stopped during fold 2
    again = [blend for _, blend, _, _ in train_folds(ClipInputs(x), y, np.arange(20), 2, config, tmp_path)]
    assert f"fold 1/2: finished before, its members loaded from {tmp_path / 'fold_1'}" in caplog.text
    assert "fold 2/2: 10 training clips, 10 validation clips of other recordings" in caplog.text
    np.testing.assert_array_equal(again[0].members[0].model[-1].coef_, first[0].members[0].model[-1].coef_)


def test_a_folds_accuracy_before_the_set_names_the_blend_only_where_there_is_one():
    y = np.array([0, 1, 1, 0])
    right, wrong = np.eye(2)[y], np.eye(2)[1 - y]
    one = describe_before_set({"birdnet": right}, Blend(2, []), y)
    assert one == "birdnet 1.0000, before the recording vote, pseudo-labels and routing"
    two = describe_before_set({"birdnet": right, "logreg": 0.4 * right + 0.6 * wrong}, Blend(2, []), y)
    assert two == (
        "each member alone: birdnet 1.0000, logreg 0.0000; the blend 1.0000, before the recording vote, "
        "pseudo-labels and routing"
    )
