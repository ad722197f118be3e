import os

import numpy as np
import pytest

from freqquest.blend.classical import IN_MEMORY, ModelFolder, load_classical
from freqquest.blend.members import ClassicalMember
from freqquest.features import inputs
from freqquest.features.inputs import ClipInputs, clip_statistics

from .conftest import fit_classical, predict_classical


def load_or_fit_classical(directory, name, x, y, seed, save=True):
    return ClassicalMember.fitted(name, ModelFolder(str(directory), save), x, y, seed)


def separable(n=30, n_classes=3, seed=0):
    """ClipInputs whose log-Mels have each class as a bright band at its own rows, and the labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    x = rng.normal(-60, 5, size=(n, 16, 12)).astype(np.float32)
    for i, label in enumerate(y):
        x[i, label * 5 : label * 5 + 4] += 30
    return ClipInputs(x), y


def test_statistics_shape_and_dtype():
    assert clip_statistics(np.zeros((3, 128, 173), np.float32)).shape == (3, 5 * (128 + 40))
    out = clip_statistics(np.zeros((2, 16, 10), np.float64))
    assert out.shape == (2, 5 * (16 + 16)) and out.dtype == np.float32
    assert inputs.n_statistics(16) == 160


def test_statistics_of_a_ramp_in_time():
    ramp = np.broadcast_to(np.arange(10, dtype=np.float32), (1, 16, 10))
    mean, std, p10, p90, delta = clip_statistics(ramp)[0, :80].reshape(5, 16)
    np.testing.assert_allclose(mean, 4.5)
    np.testing.assert_allclose(std, np.sqrt(8.25), rtol=1e-6)
    np.testing.assert_array_equal(p10, 1.0)
    np.testing.assert_array_equal(p90, 9.0)
    np.testing.assert_allclose(delta, 1.0)


def test_cepstra_of_a_flat_spectrum_are_its_level_in_the_first_coefficient():
    flat = np.full((1, 16, 10), 2.0, np.float32)
    cepstral_mean = clip_statistics(flat)[0, 80:96]
    np.testing.assert_allclose(cepstral_mean, [8.0] + [0.0] * 15, atol=1e-6)  # DCT-II (ortho) of 2 over 16 bands


def test_statistics_are_the_same_computed_in_blocks():
    x = np.random.default_rng(1).normal(size=(inputs.BLOCK + 7, 8, 5)).astype(np.float32)
    whole = clip_statistics(x)
    np.testing.assert_array_equal(whole[-7:], clip_statistics(x[-7:]))
    np.testing.assert_array_equal(whole[:3], clip_statistics(x[:3]))


def test_statistics_need_a_batch_of_log_mels():
    with pytest.raises(ValueError, match="clips, n_mels, frames"):
        clip_statistics(np.zeros((16, 10)))


@pytest.mark.parametrize("name", ["logreg", "svm"])
def test_each_model_learns_separable_clips(name):
    x, y = separable()
    model = fit_classical(name, x, y, seed=0)
    probabilities = predict_classical(name, model, separable(seed=1)[0], 3)
    assert probabilities.shape == (30, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probabilities.argmax(axis=1), separable(seed=1)[1])


def test_a_class_missing_from_training_gets_probability_zero():
    x, y = separable()
    model = fit_classical("logreg", x, y, seed=0)
    probabilities = predict_classical("logreg", model, x.take(slice(0, 4)), n_classes=5)
    assert probabilities.shape == (4, 5)
    np.testing.assert_array_equal(probabilities[:, 3:], 0.0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_no_clips_give_no_rows():
    x, y = separable()
    assert predict_classical("logreg", fit_classical("logreg", x, y, seed=0), x.take(slice(0, 0)), 3).shape == (0, 3)


def test_the_svm_needs_two_clips_of_every_class_and_names_must_be_known():
    x, y = separable(4)  # classes 1 and 2 have one clip each
    with pytest.raises(ValueError, match="at least 2 training clips"):
        fit_classical("svm", x, y, seed=0)
    with pytest.raises(ValueError, match="unknown classical model 'knn'"):
        fit_classical("knn", *separable(), seed=0)


def test_a_saved_model_is_loaded_not_refitted(tmp_path, monkeypatch):
    x, y = separable()
    fitted = load_or_fit_classical(tmp_path, "svm", x, y, seed=0)
    assert (tmp_path / "svm.joblib").is_file()
    monkeypatch.setattr(ClassicalMember, "classifier", lambda *a, **k: pytest.fail("a saved model was fitted again"))
    loaded = load_or_fit_classical(tmp_path, "svm", x, y, seed=0)
    np.testing.assert_array_equal(predict_classical("svm", loaded, x, 3), predict_classical("svm", fitted, x, 3))
    np.testing.assert_array_equal(
        predict_classical("svm", load_classical(tmp_path, "svm"), x, 3), predict_classical("svm", fitted, x, 3)
    )


def test_a_model_fitted_without_save_leaves_the_folder_untouched(tmp_path):
    x, y = separable()
    unsaved = load_or_fit_classical(tmp_path / "run", "logreg", x, y, seed=0, save=False)
    assert not (tmp_path / "run").exists()
    np.testing.assert_array_equal(
        predict_classical("logreg", unsaved, x, 3),
        predict_classical("logreg", fit_classical("logreg", x, y, seed=0), x, 3),
    )


def test_a_model_fitted_in_memory_is_fitted_each_time_and_kept_nowhere(tmp_path, monkeypatch):
    x, y = separable()
    monkeypatch.chdir(tmp_path)
    fits, fit = [], ClassicalMember.fit
    monkeypatch.setattr(ClassicalMember, "fit", classmethod(lambda cls, *args: fits.append(args[0]) or fit(*args)))
    models = [ClassicalMember.fitted("logreg", IN_MEMORY, x, y, seed=0) for _ in range(2)]
    assert fits == ["logreg", "logreg"] and models[0] is not models[1] and os.listdir(tmp_path) == []
    assert not IN_MEMORY.holds(["logreg"]) and IN_MEMORY.at_rate(8000) is IN_MEMORY


def test_loading_a_model_that_was_never_fitted_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="logreg.joblib"):
        load_classical(tmp_path, "logreg")
