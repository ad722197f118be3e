import dataclasses
import json
import logging
import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import Audio_Generation_CGAN as cli
from freqquest.config import GanConfig
from freqquest.features import log_mel
from freqquest.gan import evaluation, training
from freqquest.gan.inversion import log_mel_to_audio, log_mels_to_audio, scale_log_mel, unscale_log_mel, write_wav
from freqquest.gan.model import ConditionalGAN, build_discriminator, build_generator, mode_seeking_loss
from freqquest.gan.run import GanOptions, run_gan_training
from freqquest.runs import RunInterrupted
from freqquest.models import build_model

from .conftest import SMALL

SHAPE = SMALL.feature_shape  # (32, 63)
TINY = GanConfig(latent_dim=8, width=4, epochs=3, batch_size=8, seed=0)


def toy_scaled(n=20, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, *SHAPE)).astype(np.float32), np.arange(n) % 3


def test_generator_makes_scaled_log_mels_of_the_feature_shape():
    generator = build_generator(8, 3, SHAPE, width=4)
    out = np.asarray(generator([np.zeros((5, 8), np.float32), np.array([0, 1, 2, 0, 1], np.int32)]))
    assert out.shape == (5, *SHAPE) and out.dtype == np.float32
    assert out.min() >= -1.0 and out.max() <= 1.0


def test_an_untrained_generator_already_hears_the_class_as_loudly_as_the_noise():
    generator = build_generator(8, 3, SHAPE, width=4)
    rng = np.random.default_rng(0)
    noise, other_noise = rng.standard_normal((2, 64, 8)).astype(np.float32)
    zeros, ones = np.zeros(64, np.int32), np.ones(64, np.int32)
    base = np.asarray(generator([noise, zeros]))
    class_effect = np.abs(np.asarray(generator([noise, ones])) - base).mean()
    noise_effect = np.abs(np.asarray(generator([other_noise, zeros])) - base).mean()
    assert class_effect > 0.5 * noise_effect


def test_mode_seeking_loss_is_the_inverse_spread_per_unit_of_noise_distance():
    fake_a = np.zeros((2, 3, 4), np.float32)
    fake_b = np.full((2, 3, 4), 0.5, np.float32)
    noise_a, noise_b = np.zeros((2, 8), np.float32), np.full((2, 8), 2.0, np.float32)
    assert float(mode_seeking_loss(fake_a, fake_b, noise_a, noise_b)) == pytest.approx(1 / (0.25 + 1e-5))
    assert float(mode_seeking_loss(fake_a, fake_a, noise_a, noise_b)) == pytest.approx(1e5)  # a collapsed pair


def test_diff_augment_rolls_each_clip_and_silences_a_quarter_of_its_frames():
    x = np.random.default_rng(0).uniform(-0.9, 0.9, (6, *SHAPE)).astype(np.float32)
    gan = training.build_gan(dataclasses.replace(TINY, diff_augment=True), 3, SHAPE)
    frames = SHAPE[1]
    for clip, original in zip(np.asarray(gan.augment(x)), x):
        silent = np.all(clip == -1.0, axis=0)
        assert silent.sum() == frames // 4 and np.ptp(np.flatnonzero(silent)) == frames // 4 - 1  # one band
        assert any(np.array_equal(clip[:, ~silent], np.roll(original, -shift, axis=1)[:, ~silent]) for shift in range(frames))
    assert np.array_equal(np.asarray(training.build_gan(TINY, 3, SHAPE).augment(x)), x)  # off by default


def test_negative_mode_seeking_weight():
    with pytest.raises(ValueError, match="mode_seeking_weight must not be negative"):
        GanConfig(mode_seeking_weight=-1.0)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_discriminator_scores_each_clip_with_its_class(spectral_norm):
    discriminator = build_discriminator(3, SHAPE, width=4, spectral_norm=spectral_norm)
    x = np.random.default_rng(0).uniform(-1, 1, (4, *SHAPE)).astype(np.float32)
    same = np.asarray(discriminator([x, np.array([0, 0, 0, 0], np.int32)]))
    assert same.shape == (4, 1) and same.dtype == np.float32
    # the projection term makes the score depend on the class
    discriminator.get_layer("class_projection").set_weights([np.random.default_rng(1).normal(size=(3, 32)).astype(np.float32)])
    a = np.asarray(discriminator([x, np.zeros(4, np.int32)]))
    b = np.asarray(discriminator([x, np.ones(4, np.int32)]))
    assert not np.allclose(a, b)


@pytest.mark.parametrize("loss", ["bce", "hinge", "wgan-gp"])
def test_one_training_step_changes_both_models(loss):
    gan = training.build_gan(dataclasses.replace(TINY, loss=loss), 3, SHAPE)
    before = [np.copy(w) for w in gan.generator.get_weights()], [np.copy(w) for w in gan.discriminator.get_weights()]
    x, y = toy_scaled(8)
    logs = gan.train_on_batch(x, y.astype(np.int32), return_dict=True)
    assert set(logs) == {"d_loss", "g_loss", "gradient_penalty", "mode_seeking", "real_score", "fake_score"}
    assert all(np.isfinite(v) for v in logs.values())
    assert (logs["gradient_penalty"] > 0) == (loss == "wgan-gp")
    for model, old in zip((gan.generator, gan.discriminator), before):
        assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), old))
    assert int(gan.g_optimizer.iterations) == int(gan.d_optimizer.iterations) == 1


def test_unknown_loss():
    with pytest.raises(ValueError, match="loss must be one of"):
        GanConfig(loss="lsgan")
    with pytest.raises(ValueError, match="loss must be one of"):
        ConditionalGAN(build_generator(8, 3, SHAPE, 4), build_discriminator(3, SHAPE, 4), 8, loss="lsgan")


def test_epoch_batches_are_fixed_by_seed_and_epoch():
    x, y = toy_scaled(10)
    whole = [b[1].numpy().tolist() for b in training.epoch_batches(x, y, 4, seed=3, first_epoch=0, epochs=3)]
    later = [b[1].numpy().tolist() for b in training.epoch_batches(x, y, 4, seed=3, first_epoch=1, epochs=3)]
    assert len(whole) == 9 and whole[3:] == later  # 3 batches an epoch; resuming at epoch 1 sees the same ones
    assert whole[:3] != whole[3:6]


@pytest.mark.parametrize("diff_augment", [False, True])
def test_resume_gives_the_same_losses_and_step_count_as_an_uninterrupted_run(tmp_path, diff_augment):
    x, y = toy_scaled()
    config = dataclasses.replace(TINY, diff_augment=diff_augment)
    straight = training.train_gan(x, y, 3, config, tmp_path / "straight")
    training.train_gan(x, y, 3, dataclasses.replace(config, epochs=1), tmp_path / "resumed")  # "interrupted" after epoch 1
    resumed = training.train_gan(x, y, 3, config, tmp_path / "resumed")
    assert int(straight.g_optimizer.iterations) == int(resumed.g_optimizer.iterations) == 9
    a, b = (pd.read_csv(tmp_path / name / "history.csv") for name in ("straight", "resumed"))
    assert b["epoch"].tolist() == [0, 1, 2]
    assert b.columns.tolist() == ["epoch", "d_loss", "fake_score", "g_loss", "gradient_penalty", "mode_seeking",
                                  "real_score"]  # no empty val_ columns
    np.testing.assert_allclose(a[["d_loss", "g_loss"]].to_numpy(), b[["d_loss", "g_loss"]].to_numpy(), rtol=1e-5)
    for w1, w2 in zip(straight.generator.get_weights(), resumed.generator.get_weights()):
        np.testing.assert_allclose(w1, w2, rtol=1e-5, atol=1e-6)


def test_history_rows_beyond_the_checkpoint_are_dropped_on_resume(tmp_path):
    x, y = toy_scaled()
    training.train_gan(x, y, 3, dataclasses.replace(TINY, epochs=2), tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    pd.concat([history, history.tail(1).assign(epoch=2)]).to_csv(tmp_path / "history.csv", index=False)  # a row written, no checkpoint
    training.train_gan(x, y, 3, TINY, tmp_path)
    assert pd.read_csv(tmp_path / "history.csv")["epoch"].tolist() == [0, 1, 2]


def test_scaling_round_trips_inside_the_range():
    db = np.array([[-100.0, -40.0, -20.0, 0.0, 10.0]], np.float32)
    scaled = scale_log_mel(db, top_db=0.0, db_range=80.0)
    np.testing.assert_allclose(scaled, [[-1.0, 0.0, 0.5, 1.0, 1.0]])
    np.testing.assert_allclose(unscale_log_mel(scaled, 0.0, 80.0), [[-80.0, -40.0, -20.0, 0.0, 0.0]])


def test_inversion_returns_a_clip_of_the_configured_length_and_rate(tmp_path):
    t = np.arange(SMALL.n_samples) / SMALL.sample_rate
    tone = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    audio = log_mel_to_audio(log_mel(tone, SMALL), SMALL, n_iter=8)
    assert audio.shape == (SMALL.n_samples,) and audio.dtype == np.float32
    assert np.max(np.abs(audio)) == pytest.approx(0.9, rel=1e-4)
    # the tone comes back at its own Mel band
    assert np.argmax(log_mel(audio, SMALL).mean(axis=1)) == np.argmax(log_mel(tone, SMALL).mean(axis=1))
    write_wav(tmp_path / "x.wav", audio, SMALL.sample_rate)
    info = sf.info(str(tmp_path / "x.wav"))
    assert (info.samplerate, info.frames, info.subtype, info.channels) == (8000, 8000, "PCM_16", 1)
    batch = log_mels_to_audio(np.stack([log_mel(tone, SMALL)] * 2), SMALL, n_iter=2, workers=1)
    assert batch.shape == (2, SMALL.n_samples)


def test_frechet_distance_of_a_set_to_itself_is_zero_and_grows_with_a_shift():
    a = np.random.default_rng(0).normal(size=(200, 6))
    assert evaluation.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert evaluation.frechet_distance(a, a + 2.0) == pytest.approx(6 * 4.0, rel=1e-6)
    with pytest.raises(ValueError, match="at least 2 samples"):
        evaluation.frechet_distance(a[:1], a)


def test_diversity_and_nearest_distances():
    points = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert evaluation.mean_pairwise_distance(points) == pytest.approx(5.0)
    assert evaluation.mean_pairwise_distance(points[:1]) == 0.0
    np.testing.assert_allclose(evaluation.nearest_distances(np.array([[0.0, 1.0], [3.0, 4.0]]), points), [1.0, 0.0], atol=1e-7)


def test_metrics_of_a_set_against_itself_give_the_floor():
    classifier = build_model("cnn", SHAPE, 3, width=4)
    embed_model = evaluation.embedding_model(classifier)
    assert embed_model.output_shape == (None, 128)

    def embed(f):
        return np.asarray(embed_model.predict(f, verbose=0))

    features = np.random.default_rng(0).normal(-40, 10, (12, *SHAPE)).astype(np.float32)
    labels = np.arange(12) % 3
    own_accuracy = float(np.mean(np.asarray(classifier.predict(features, verbose=0)).argmax(1) == labels))
    metrics = evaluation.set_metrics(classifier, embed, features, labels, features, labels, ["a", "b", "c"])
    assert metrics["accuracy"] == pytest.approx(own_accuracy)
    assert metrics["frechet_distance"] == pytest.approx(0.0, abs=1e-3)
    assert metrics["nearest_reference_distance"] == pytest.approx(0.0, abs=1e-3)
    assert metrics["n"] == 12 and set(metrics["per_class"]) == {"a", "b", "c"}
    assert all(c["frechet_distance"] == pytest.approx(0.0, abs=1e-3) for c in metrics["per_class"].values())


def test_cgan_trains_resumes_generates_and_evaluates_on_the_demo(demo_root, tmp_path, monkeypatch, caplog):
    """The small audio config keeps this a CPU test; --resume and --generate go through the script."""
    caplog.set_level(logging.INFO)
    run = tmp_path / "gan"
    options = GanOptions(data=str(demo_root), run_dir=str(run), cache_dir=str(tmp_path / "cache"), eval_per_class=2,
                         eval_preset="scratch", audio=SMALL,
                         gan=GanConfig(latent_dim=8, width=4, epochs=2, batch_size=16, sample_every=1, griffin_lim_iters=2))
    original = training.CheckpointEveryEpoch.on_epoch_end

    def save_then_stop(self, epoch, logs=None):
        original(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(training.CheckpointEveryEpoch, "on_epoch_end", save_then_stop)
    with pytest.raises(RunInterrupted, match="the checkpoint of epoch 1"):
        run_gan_training(options)
    monkeypatch.undo()
    assert json.loads((run / "checkpoint" / "epoch.json").read_text())["epochs_done"] == 1

    assert cli.main(["--resume", str(run), "--cache-dir", str(tmp_path / "cache"), "--eval-preset", "scratch"]) == 0
    assert "resuming the CGAN after epoch 1" in caplog.text
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [0, 1]
    classes = ["dog_bark", "drilling", "engine_idling", "siren", "street_music"]
    assert sorted(os.listdir(run / "gan_generated_audio")) == sorted(f"{c}_ep{n}.wav" for c in classes for n in (2,))  # epoch 1 was cut short before its samples
    assert sorted(os.listdir(run / "gan_spectrogram_plots")) == ["epoch_002.png"]
    assert (run / "losses.png").is_file()
    report = json.loads((run / "evaluation.json").read_text())
    for part in ("generated", "untrained_generator", "real_round_trip"):
        assert 0.0 <= report[part]["accuracy"] <= 1.0 and report[part]["frechet_distance"] >= 0.0
    assert report["chance"] == 0.2 and report["classifier_preset"] == "scratch" and "CGAN evaluation" in caplog.text
    assert set(report["train_on_synthetic_test_on_real"]) >= {"real_only", "synthetic_only", "real_plus_synthetic"}

    assert cli.main(["--generate", str(run), "--per-class", "2", "--out", str(tmp_path / "generated")]) == 0
    listing = pd.read_csv(tmp_path / "generated" / "generated.csv")
    assert len(listing) == 10 and listing["class"].value_counts().to_dict() == {c: 2 for c in classes}
    for name in listing["file"]:
        info = sf.info(str(tmp_path / "generated" / name))
        assert (info.samplerate, info.frames, info.subtype) == (8000, 8000, "PCM_16")


def test_generate_from_a_folder_that_is_not_a_run(tmp_path, caplog):
    assert cli.main(["--generate", str(tmp_path)]) == 2
    assert "is not a CGAN run folder" in caplog.text
