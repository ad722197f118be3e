import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from freqquest.blend import members
from freqquest.config import AudioConfig, TrainConfig
from freqquest.features.inputs import ClipInputs
from freqquest.models import training
from freqquest.runs import read_run_config, write_run_config

from .conftest import REPO, fit_classical, predict_classical

SHAPE = (32, 63)
CONFIG = TrainConfig(model="cnn", epochs=4, batch_size=8, seed=0, early_stopping_patience=50)


def toy_data(n=24, n_classes=3, seed=0):
    """Each class is a bright band at its own mel rows, so a few epochs learn it."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    x = rng.normal(-60, 5, size=(n, *SHAPE)).astype(np.float32)
    for i, label in enumerate(y):
        x[i, label * 10 : label * 10 + 6] += 40
    return x, y


def test_make_dataset_batches_features_with_one_hot_labels():
    x, y = toy_data(10)
    batches = list(training.make_dataset(x, y, 3, batch_size=4, shuffle=False, seed=0))
    assert [b[0].shape for b in batches] == [(4, *SHAPE), (4, *SHAPE), (2, *SHAPE)]
    assert batches[0][1].dtype == tf.float32
    np.testing.assert_array_equal(batches[0][1].numpy(), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    np.testing.assert_array_equal(batches[0][0].numpy(), x[:4])


def test_make_dataset_applies_the_augmenter_to_training_batches():
    x, y = toy_data(8)
    batches = list(training.make_dataset(x, y, 3, batch_size=8, shuffle=False, seed=0, augment=lambda a, b: (a + 1, b)))
    np.testing.assert_array_equal(batches[0][0].numpy(), x + 1)


def test_cpu_runs_in_float32_with_the_default_strategy():
    strategy = training.select_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert training.precision_policy(strategy) == "float32"


def test_train_writes_checkpoint_and_history_and_returns_the_best_model(tmp_path):
    x, y = toy_data()
    model = training.train(x[:18], y[:18], x[18:], y[18:], 3, CONFIG, tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    assert history["epoch"].tolist() == [0, 1, 2, 3]
    assert {"accuracy", "loss", "val_accuracy", "val_loss", "learning_rate"} <= set(history.columns)
    assert (tmp_path / "model.keras").is_file() and not (tmp_path / "backup").exists()
    best = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(model.predict(x, verbose=0), best.predict(x, verbose=0), atol=1e-6)
    assert model.predict(x[:1], verbose=0).shape == (1, 3)


def test_an_interrupted_run_resumes_from_its_last_epoch(tmp_path, monkeypatch):
    x, y = toy_data()

    class Interrupt(keras.callbacks.CSVLogger):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if epoch == 1:
                raise KeyboardInterrupt

    monkeypatch.setattr(training.keras.callbacks, "CSVLogger", Interrupt)
    with pytest.raises(KeyboardInterrupt):
        training.train(x[:18], y[:18], x[18:], y[18:], 3, CONFIG, tmp_path)
    assert (tmp_path / "backup").is_dir()
    monkeypatch.undo()

    training.train(x[:18], y[:18], x[18:], y[18:], 3, CONFIG, tmp_path)
    assert pd.read_csv(tmp_path / "history.csv")["epoch"].tolist() == [0, 1, 2, 3]
    assert not (tmp_path / "backup").exists()


MULTI_DEVICE = r"""
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from freqquest.blend import classical, members
from freqquest.models import training
from freqquest.config import AudioConfig, TrainConfig
from freqquest.runs import read_run_config, write_run_config
from freqquest.features.inputs import ClipInputs
from tests.test_training import toy_data
strategy = training.select_strategy(["/cpu:0", "/cpu:1"])
x, y = toy_data()
config = TrainConfig(epochs=2, batch_size=8, seed=0)
model = training.train(x[:18], y[:18], x[18:], y[18:], 3, config, sys.argv[1], strategy)
print(json.dumps({"strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync,
                  "shape": list(model.predict(x, verbose=0).shape)}))
"""


def test_training_runs_on_two_devices_with_mirrored_strategy(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-c", MULTI_DEVICE, str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"strategy": "MirroredStrategy", "replicas": 2, "shape": [24, 3]}
    assert pd.read_csv(tmp_path / "history.csv")["epoch"].tolist() == [0, 1]


def test_cosine_schedule_warms_up_then_decays():
    config = TrainConfig(epochs=10, learning_rate=1e-3, schedule="cosine", warmup_epochs=2, optimizer="adamw")
    optimizer = training.make_optimizer(config, steps_per_epoch=5)
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    rates = [float(schedule(step)) for step in (0, 10, 30, 49)]
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert rates[0] == pytest.approx(1e-4) and rates[1] == pytest.approx(1e-3)
    assert rates[1] > rates[2] > rates[3] >= 1e-6


def test_augmented_training_with_label_smoothing_and_cosine_schedule_learns(tmp_path):
    x, y = toy_data(36)
    config = TrainConfig(
        epochs=6,
        batch_size=8,
        seed=0,
        schedule="cosine",
        optimizer="adamw",
        label_smoothing=0.1,
        time_shift=True,
        time_masks=1,
        time_mask_width=8,
        freq_masks=1,
        freq_mask_width=4,
        mixup_alpha=0.2,
        early_stopping_patience=50,
    )
    model = training.train(x[:27], y[:27], x[27:], y[27:], 3, config, tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert (model.predict(x, verbose=0).argmax(axis=1) == y).mean() > 0.6


def test_folds_train_one_model_per_fold_and_resume_skips_finished_folds(tmp_path, monkeypatch):
    x, y = toy_data(30)
    groups = [f"rec{i // 2}" for i in range(30)]
    config = TrainConfig(epochs=1, batch_size=8, seed=0, folds=3)
    validated = []
    for fold, model, train_idx, val_idx in members.train_folds(ClipInputs(x), y, groups, 3, config, tmp_path):
        validated += val_idx.tolist()
        np.testing.assert_array_equal(train_idx, np.setdiff1d(np.arange(30), val_idx))
        assert (tmp_path / f"fold_{fold + 1}" / "model.keras").is_file()
        assert not {groups[i] for i in val_idx} & {groups[i] for i in set(range(30)) - set(val_idx)}
    assert sorted(validated) == list(range(30))

    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("a finished fold was trained again"))
    assert [fold for fold, _, _, _ in members.train_folds(ClipInputs(x), y, groups, 3, config, tmp_path)] == [0, 1, 2]
    assert len(training.load_fold_models(tmp_path, 3)) == 3
    with pytest.raises(FileNotFoundError, match="fold_4"):
        training.load_fold_models(tmp_path, 4)


def test_each_fold_fits_the_blended_classical_models_on_its_training_clips(tmp_path, monkeypatch):
    x, y = toy_data(30)
    groups = [f"rec{i // 2}" for i in range(30)]
    config = TrainConfig(epochs=1, batch_size=8, seed=0, folds=2, blend="svm,logreg")
    fitted = {}
    inputs = ClipInputs(x)
    for fold, fold_blend, train_idx, _ in members.train_folds(inputs, y, groups, 3, config, tmp_path):
        assert [m.name for m in fold_blend.members] == ["network", "svm", "logreg"] and len(
            fold_blend.network.models
        ) == 1
        assert {p.name for p in (tmp_path / f"fold_{fold + 1}").glob("*.joblib")} == {"svm.joblib", "logreg.joblib"}
        expected = fit_classical("logreg", inputs.take(train_idx), y[train_idx], seed=config.seed + fold)
        np.testing.assert_allclose(
            fold_blend.predict(inputs)["logreg"], predict_classical("logreg", expected, inputs, 3), rtol=1e-6
        )
        fitted[fold] = fold_blend.predict(inputs)["svm"]

    (tmp_path / "fold_2" / "svm.joblib").unlink()  # interrupted after the network, before its classical models
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("a finished fold was trained again"))
    for fold, fold_blend, _, _ in members.train_folds(inputs, y, groups, 3, config, tmp_path):
        np.testing.assert_allclose(fold_blend.predict(inputs)["svm"], fitted[fold], rtol=1e-6)


def test_the_test_blend_has_every_fold_network_and_classical_models_fitted_on_all_clips(tmp_path):
    x, y = toy_data(30)
    groups = [f"rec{i // 2}" for i in range(30)]
    config = TrainConfig(epochs=1, batch_size=8, seed=0, folds=2, blend="logreg")
    inputs = ClipInputs(x)
    fold_blends = [blend for _, blend, _, _ in members.train_folds(inputs, y, groups, 3, config, tmp_path)]
    on_all = members.blend_for_test(config, fold_blends, inputs, y, 3, tmp_path)
    assert (tmp_path / "classical" / "logreg.joblib").is_file()
    assert on_all.network.models == [b.network.models[0] for b in fold_blends]
    expected = predict_classical("logreg", fit_classical("logreg", inputs, y, seed=0), inputs, 3)
    np.testing.assert_allclose(on_all.predict(inputs)["logreg"], expected, rtol=1e-6)

    loaded = members.load_blend(tmp_path, config, 3)
    assert len(loaded.network.models) == 2 and [m.name for m in loaded.members] == ["network", "logreg"]
    np.testing.assert_allclose(loaded.predict(inputs)["logreg"], expected, rtol=1e-6)
    np.testing.assert_allclose(loaded.predict(inputs)["network"], on_all.predict(inputs)["network"], rtol=1e-5)
    assert [m.name for m in members.load_blend(tmp_path, dataclasses.replace(config, blend=""), 3).members] == [
        "network"
    ]
    with pytest.raises(FileNotFoundError, match="svm.joblib"):
        members.load_blend(tmp_path, dataclasses.replace(config, blend="svm"), 3)


def test_blend_names_distinct_known_models():
    assert TrainConfig().classical_models == ("logreg", "svm")
    assert TrainConfig(blend="").classical_models == ()
    assert TrainConfig(blend=" svm ").classical_models == ("svm",)
    for bad in ("knn", "svm,svm", "logreg,forest"):
        with pytest.raises(ValueError, match="blend must name distinct models"):
            TrainConfig(blend=bad)


def test_a_run_saved_before_blending_existed_reads_as_unblended(tmp_path):
    write_run_config(tmp_path, AudioConfig(), TrainConfig(), ["a", "b"], "a", tmp_path, demo=False)
    payload = json.loads((tmp_path / "config.json").read_text())
    assert read_run_config(tmp_path)["train"].blend == "logreg,svm"
    del payload["train"]["blend"]
    (tmp_path / "config.json").write_text(json.dumps(payload))
    assert read_run_config(tmp_path)["train"].blend == ""


def test_a_run_saved_before_the_recording_vote_existed_reads_as_unvoted(tmp_path):
    write_run_config(tmp_path, AudioConfig(), TrainConfig(), ["a", "b"], "a", tmp_path, demo=False)
    payload = json.loads((tmp_path / "config.json").read_text())
    assert read_run_config(tmp_path)["train"].recording_vote is True
    del payload["train"]["recording_vote"]
    (tmp_path / "config.json").write_text(json.dumps(payload))
    assert read_run_config(tmp_path)["train"].recording_vote is False
