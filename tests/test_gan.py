import dataclasses
import json
import logging
import os

import keras
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import tensorflow as tf

import Audio_Generation_CGAN as cli
from freqquest.competition.dataset import preflight, scan_competition
from freqquest.config import AudioConfig, from_dict
from freqquest.features.store import FeatureStore, log_mel
from freqquest.gan import evaluation, samples, training
from freqquest.gan.config import GAN_PRESETS, GanConfig, gan_preset_config
from freqquest.gan.inversion import GanScale, log_mel_to_audio, log_mels_to_audio, write_wav
from freqquest.gan.model import ConditionalBatchNorm, build_discriminator, build_generator
from freqquest.gan.run import GanOptions, gan_and_held_out, load_real_clips, run_gan_training
from freqquest.gan.samples import Sampler
from freqquest.runs import RunInterrupted

from .conftest import SMALL

SHAPE = (16, 32)  # a GAN image
TINY = GanConfig(latent_dim=8, width=4, epochs=3, batch_size=8, seed=0)
CLASSES = ["dog_bark", "drilling", "engine_idling", "siren", "street_music"]


def toy_scaled(n=20, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, *SHAPE)).astype(np.float32), np.arange(n) % 3


# -- the representation ------------------------------------------------------------------------------------------------


def test_the_scale_maps_the_range_below_the_top_to_minus_one_one_and_back():
    db = np.array([[[-100.0, -40.0], [-20.0, 0.0]]], np.float32)
    scale = GanScale(top_db=0.0, db_range=80.0)
    np.testing.assert_allclose(scale.scale(db), [[[-1.0, 0.0], [0.5, 1.0]]])
    np.testing.assert_allclose(scale.unscale(scale.scale(db)), [[[-80.0, -40.0], [-20.0, 0.0]]])


def test_per_clip_level_fills_the_range_with_a_quiet_clip():
    loud, quiet = np.full((1, 4, 4), -10.0, np.float32), np.full((1, 4, 4), -80.0, np.float32)
    loud[0, 0, 0], quiet[0, 0, 0] = 0.0, -70.0  # both a pixel 10 dB above the rest
    clips = np.concatenate([loud, quiet])
    globally, per_clip = GanScale(0.0, 80.0).scale(clips), GanScale(0.0, 80.0, per_clip=True).scale(clips)
    assert (globally[1] == -1.0).mean() == 15 / 16  # the quiet clip sits at the floor
    np.testing.assert_allclose(per_clip[0], per_clip[1], atol=1e-6)  # each relative to its own loudest pixel
    assert (per_clip == -1.0).mean() == 0.0


# -- the networks ------------------------------------------------------------------------------------------------------


def test_generator_makes_images_of_the_shape_in_range():
    generator = build_generator(8, 3, SHAPE, width=4)
    out = np.asarray(generator([np.zeros((5, 8), np.float32), np.array([0, 1, 2, 0, 1], np.int32)]))
    assert out.shape == (5, *SHAPE) and out.dtype == np.float32
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert not any("transpose" in layer.name for layer in generator.layers)  # upsampling + convolution


def test_an_untrained_generator_already_hears_the_class_as_loudly_as_the_noise():
    generator = build_generator(8, 3, SHAPE, width=4)
    rng = np.random.default_rng(0)
    noise, other_noise = rng.standard_normal((2, 64, 8)).astype(np.float32)
    zeros, ones = np.zeros(64, np.int32), np.ones(64, np.int32)
    base = np.asarray(generator([noise, zeros]))
    class_effect = np.abs(np.asarray(generator([noise, ones])) - base).mean()
    noise_effect = np.abs(np.asarray(generator([other_noise, zeros])) - base).mean()
    assert class_effect > 0.5 * noise_effect


def test_conditional_batch_norm_gives_each_class_its_scale_and_shift():
    layer = ConditionalBatchNorm(2)
    x = np.random.default_rng(0).normal(3, 2, (8, 4, 5, 6)).astype(np.float32)
    labels = np.array([0, 1] * 4, np.int32)
    plain = np.asarray(layer([x, labels], training=True))
    np.testing.assert_allclose(plain.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)  # starts as plain batch normalization
    layer.gamma.set_weights([np.array([[0.0] * 6, [1.0] * 6], np.float32)])
    layer.beta.set_weights([np.array([[0.0] * 6, [5.0] * 6], np.float32)])
    shifted = np.asarray(layer([x, labels], training=True))
    np.testing.assert_allclose(shifted[labels == 0], plain[labels == 0], atol=1e-5)
    np.testing.assert_allclose(shifted[labels == 1], 2 * plain[labels == 1] + 5, atol=1e-4)


def test_the_discriminator_scores_and_classifies_keeping_the_frequency_axis():
    discriminator = build_discriminator(3, SHAPE, width=4)
    x = np.random.default_rng(0).uniform(-1, 1, (4, *SHAPE)).astype(np.float32)
    score, logits = (np.asarray(t) for t in discriminator([x, np.zeros(4, np.int32)]))
    assert score.shape == (4, 1) and logits.shape == (4, 3) and score.dtype == np.float32
    assert discriminator.get_layer("sum_over_time").output.shape == (None, SHAPE[0] // 16, 32)  # bands x channels
    other, _ = (np.asarray(t) for t in discriminator([x, np.ones(4, np.int32)]))
    assert not np.allclose(score, other)  # the projection makes the score depend on the class
    spectral = [layer for layer in discriminator.layers if type(layer).__name__ == "SpectralNormalization"]
    assert len(spectral) == 7  # 4 convolutions, the linear term, the class projection, the classifier head


@pytest.mark.parametrize("loss", ["bce", "hinge", "wgan-gp"])
def test_one_training_step_changes_both_models_and_the_moving_average(loss):
    gan = training.build_gan(dataclasses.replace(TINY, loss=loss), 3, SHAPE)
    before = [np.copy(w) for w in gan.generator.get_weights()], [np.copy(w) for w in gan.discriminator.get_weights()]
    averaged = [np.copy(w) for w in gan.ema_generator.get_weights()]
    x, y = toy_scaled(8)
    logs = gan.train_on_batch(x, y.astype(np.int32), return_dict=True)
    assert set(logs) == {"d_loss", "g_loss", "gradient_penalty", "class_loss", "real_score", "fake_score"}
    assert all(np.isfinite(v) for v in logs.values())
    assert (logs["gradient_penalty"] > 0) == (loss == "wgan-gp")
    for model, old in zip((gan.generator, gan.discriminator), before):
        assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), old))
    kernel = next(i for i, w in enumerate(gan.generator.weights) if "kernel" in w.path)
    new, old, average = gan.generator.get_weights()[kernel], before[0][kernel], gan.ema_generator.get_weights()[kernel]
    decay = min(TINY.ema_decay, 2 / 11)  # warmed up: (1 + steps) / (10 + steps) after the first step
    np.testing.assert_allclose(average, decay * averaged[kernel] + (1 - decay) * new, rtol=1e-5, atol=1e-7)
    assert (
        gan.sampling_generator is gan.ema_generator and not np.allclose(average, new) and not np.array_equal(new, old)
    )
    assert int(gan.g_optimizer.iterations) == int(gan.d_optimizer.iterations) == 1


def test_mode_seeking_draws_two_clips_a_label_and_grows_as_they_come_closer_than_their_noise(monkeypatch):
    config = dataclasses.replace(TINY, class_weight=0.0, mode_seeking_weight=0.5)
    gan = training.build_gan(config, 3, SHAPE)
    noise = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    drawn = []
    monkeypatch.setattr(gan, "noise", lambda n: drawn.append(int(n)) or tf.constant(noise[: int(n)]))
    total, adversarial = gan.generator_objective(tf.zeros((4, *SHAPE)), tf.constant([0, 1, 2, 0], tf.int32))
    assert drawn == [8]  # two clips for each of the 4 labels
    clips = np.asarray(gan.generator([noise, np.array([0, 1, 2, 0] * 2, np.int32)], training=True))
    apart = np.abs(clips[:4] - clips[4:]).mean() / np.abs(noise[:4] - noise[4:]).mean()
    np.testing.assert_allclose(float(total) - float(adversarial), 0.5 / (apart + 1e-5), rtol=1e-4)
    monkeypatch.undo()
    x, y = toy_scaled(8)
    logs = gan.train_on_batch(x, y.astype(np.int32), return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()) and int(gan.g_optimizer.iterations) == 1


def test_feature_matching_adds_the_distance_between_the_real_and_generated_batches_mean_discriminator_features(
    monkeypatch,
):
    config = dataclasses.replace(TINY, class_weight=0.0, feature_matching_weight=2.0)
    gan = training.build_gan(config, 3, SHAPE)
    noise = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    monkeypatch.setattr(gan, "noise", lambda n: tf.constant(noise[: int(n)]))
    real, labels = toy_scaled(4)
    real, labels = tf.constant(real), tf.constant(labels, tf.int32)
    total, adversarial = gan.generator_objective(real, labels)
    clips = gan.generator([tf.constant(noise), labels], training=True)
    features = keras.Model(gan.discriminator.inputs, gan.discriminator.get_layer("features").output)
    real_mean = np.asarray(features([real, labels])).mean(0)
    fake_mean = np.asarray(features([clips, labels])).mean(0)
    assert real_mean.shape == (SHAPE[0] // 16 * 32,) and float(total) > float(adversarial)  # bands x channels
    np.testing.assert_allclose(
        float(total) - float(adversarial), 2.0 * np.mean(np.square(real_mean - fake_mean)), rtol=1e-4
    )
    monkeypatch.undo()
    both = training.build_gan(dataclasses.replace(config, mode_seeking_weight=1.0), 3, SHAPE)
    x, y = toy_scaled(8)
    logs = both.train_on_batch(x, y.astype(np.int32), return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()) and int(both.g_optimizer.iterations) == 1


def test_a_step_under_mixed_float16_with_every_loss_term():
    """The GPU's policy, on the CPU: half-precision features and clips meet float32 losses."""
    config = dataclasses.replace(TINY, feature_matching_weight=10.0, mode_seeking_weight=1.0)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        gan = training.build_gan(config, 3, SHAPE)
        x, y = toy_scaled(8)
        logs = gan.train_on_batch(x, y.astype(np.int32), return_dict=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert all(np.isfinite(v) for v in logs.values()) and int(gan.g_optimizer.iterations) == 1


def test_without_a_moving_average_samples_come_from_the_generator():
    gan = training.build_gan(dataclasses.replace(TINY, ema_decay=0.0), 3, SHAPE)
    assert gan.ema_generator is None and gan.sampling_generator is gan.generator


def test_candidates_keep_the_sample_the_discriminators_classifier_finds_likeliest_of_its_class():
    gan = training.build_gan(TINY, 3, SHAPE)
    scale = GanScale(40.0, 80.0)
    images, labels = Sampler(gan.generator, scale, TINY.latent_dim, 3, gan.discriminator, candidates=4).images(
        2, seed=5
    )
    assert images.shape == (6, *SHAPE) and images.dtype == np.float32 and labels.tolist() == [0, 0, 1, 1, 2, 2]
    drawn = np.repeat(labels, 4)  # the candidates, drawn from the seed's noise as images() draws them
    noise = np.random.default_rng(5).standard_normal((24, TINY.latent_dim)).astype(np.float32)
    candidates = np.asarray(gan.generator([noise, drawn]))
    _, logits = gan.discriminator([candidates, drawn])
    probabilities = np.asarray(keras.ops.softmax(logits))[np.arange(24), drawn].reshape(6, 4)
    chosen = candidates.reshape(6, 4, *SHAPE)[np.arange(6), probabilities.argmax(1)]
    np.testing.assert_allclose(images, chosen, atol=1e-5)
    assert not np.allclose(images, candidates[::4], atol=1e-5)  # not simply the first candidate
    single, _ = Sampler(gan.generator, scale, TINY.latent_dim, 3).images(2, seed=5)
    np.testing.assert_allclose(single, np.asarray(gan.generator([noise[:6], labels])), atol=1e-5)


def test_bad_recipes():
    with pytest.raises(ValueError, match="loss must be one of"):
        GanConfig(loss="lsgan")
    with pytest.raises(ValueError, match="ema_decay must be in"):
        GanConfig(ema_decay=1.0)
    with pytest.raises(ValueError, match="feature_matching_weight must not be negative, got 1.0, 0.0, -0.5"):
        GanConfig(feature_matching_weight=-0.5)
    with pytest.raises(ValueError, match="candidates must be at least 1"):
        GanConfig(candidates=0)


def test_presets_and_the_flags_that_override_them():
    assert cli.gan_config(cli.parse_args([])) == GanConfig() == gan_preset_config("cpu")
    gpu = cli.gan_config(cli.parse_args(["--preset", "gpu", "--epochs", "5", "--no-per-clip-level"]))
    assert gpu == dataclasses.replace(GanConfig(**GAN_PRESETS["gpu"]), epochs=5, per_clip_level=False)
    assert gpu.width == 64
    with pytest.raises(ValueError, match="unknown CGAN preset 'tpu'"):
        gan_preset_config("tpu")
    with pytest.raises(SystemExit):
        cli.parse_args(["--resume", "runs/gan1", "--preset", "gpu"])  # the run's recipe is its config.json's


def test_the_gpu_recipe_trains():
    """Its settings, on a small image: one step of both networks and the moving average."""
    config = gan_preset_config("gpu")
    gan = training.build_gan(config, 5, SHAPE)
    x, y = toy_scaled(config.batch_size)
    logs = gan.train_on_batch(x, (y % 5).astype(np.int32), return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()) and int(gan.g_optimizer.iterations) == 1
    assert gan.generator.get_layer("class_embedding").output.shape == (None, config.latent_dim)
    assert gan.discriminator.get_layer("sum_over_time").output.shape == (None, SHAPE[0] // 16, 8 * config.width)


# -- training and resuming ---------------------------------------------------------------------------------------------


def test_epoch_batches_are_fixed_by_seed_and_epoch():
    x, y = toy_scaled(10)
    whole = [b[1].numpy().tolist() for b in training.epoch_batches(x, y, 4, seed=3, first_epoch=0, epochs=3)]
    later = [b[1].numpy().tolist() for b in training.epoch_batches(x, y, 4, seed=3, first_epoch=1, epochs=3)]
    assert len(whole) == 9 and whole[3:] == later  # 3 batches an epoch; resuming at epoch 1 sees the same ones
    assert whole[:3] != whole[3:6]


def test_resume_gives_the_same_losses_and_step_count_as_an_uninterrupted_run(tmp_path):
    x, y = toy_scaled()
    config = TINY
    straight = training.train_gan(x, y, 3, config, tmp_path / "straight")
    training.train_gan(
        x, y, 3, dataclasses.replace(config, epochs=1), tmp_path / "resumed"
    )  # "interrupted" after epoch 1
    resumed = training.train_gan(x, y, 3, config, tmp_path / "resumed")
    assert int(straight.g_optimizer.iterations) == int(resumed.g_optimizer.iterations) == 9
    a, b = (pd.read_csv(tmp_path / name / "history.csv") for name in ("straight", "resumed"))
    assert b["epoch"].tolist() == [0, 1, 2]
    assert b.columns.tolist() == [
        "epoch",
        "class_loss",
        "d_loss",
        "fake_score",
        "g_loss",
        "gradient_penalty",
        "real_score",
    ]  # no empty val_ columns
    np.testing.assert_allclose(a[["d_loss", "g_loss"]].to_numpy(), b[["d_loss", "g_loss"]].to_numpy(), rtol=1e-5)
    for one, other in ((straight.generator, resumed.generator), (straight.ema_generator, resumed.ema_generator)):
        for w1, w2 in zip(one.get_weights(), other.get_weights()):
            np.testing.assert_allclose(w1, w2, rtol=1e-5, atol=1e-6)


def test_the_budget_in_steps_sets_the_epochs_whatever_the_datasets_size():
    budget = GanConfig(steps=100, batch_size=32)
    assert [budget.epochs_for(n) for n in (32, 320, 330, 3450)] == [
        100,
        10,
        10,
        1,
    ]  # 1, 10, 11 and 108 batches an epoch
    assert dataclasses.replace(budget, epochs=7).epochs_for(3450) == 7  # --epochs instead of the budget
    assert GanConfig().steps == 1200 and GanConfig().epochs is None and gan_preset_config("gpu").steps == 12000
    with pytest.raises(ValueError, match="steps, epochs, batch_size"):
        GanConfig(steps=0)


def test_the_budget_stops_training_on_time_and_a_resumed_run_finishes_within_it(tmp_path, caplog, monkeypatch):
    """12 clips in batches of 8: 2 batches an epoch, so a budget of 5 steps is 3 epochs (6 steps)."""
    x, y = toy_scaled(12)
    config = dataclasses.replace(TINY, epochs=None, steps=5)
    caplog.set_level("INFO")
    straight = training.train_gan(x, y, 3, config, tmp_path / "straight")
    assert int(straight.g_optimizer.iterations) == 6
    assert "the CGAN trains for 3 epochs of 2 batches: 6 generator steps (the budget of 5 steps)" in caplog.text

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        training.train_gan(x, y, 3, config, tmp_path / "resumed", [Stop()])
    assert training.checkpoint_epochs(tmp_path / "resumed") == 1
    resumed = training.train_gan(x, y, 3, config, tmp_path / "resumed")
    assert int(resumed.g_optimizer.iterations) == 6 and training.checkpoint_epochs(tmp_path / "resumed") == 3


def test_the_spectrogram_grid_has_time_and_frequency_axes(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(samples, "save_figure", lambda fig, path: figures.append(fig))
    audio = AudioConfig()
    dbs = np.random.default_rng(0).normal(-40, 10, (4, *audio.feature_shape)).astype(np.float32)
    samples.plot_spectrogram_grid(dbs, np.array([0, 0, 1, 1]), ["a", "b"], tmp_path / "grid.png", "grid", audio)
    axes = np.array(figures[0].axes).reshape(2, 2)
    assert [ax.get_xlabel() for ax in axes[-1]] == ["time (s)"] * 2 and axes[0, 0].get_ylabel() == "Hz"
    assert axes[1, 0].get_xlim() == pytest.approx((0.0, 173 * 512 / 22050))  # 4 s of frames
    assert [t.get_text() for t in axes[0, 0].get_yticklabels()] == ["250", "1000", "4000"]


def test_history_rows_beyond_the_checkpoint_are_dropped_on_resume(tmp_path):
    x, y = toy_scaled()
    training.train_gan(x, y, 3, dataclasses.replace(TINY, epochs=2), tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    pd.concat([history, history.tail(1).assign(epoch=2)]).to_csv(
        tmp_path / "history.csv", index=False
    )  # a row written, no checkpoint
    training.train_gan(x, y, 3, TINY, tmp_path)
    assert pd.read_csv(tmp_path / "history.csv")["epoch"].tolist() == [0, 1, 2]


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


# -- the yardstick -----------------------------------------------------------------------------------------------------


def test_distances_of_a_set_to_itself_give_the_floor_and_grow_with_a_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    assert evaluation.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert evaluation.frechet_distance(a, a + 2.0) == pytest.approx(16 * 4.0, rel=1e-6)
    assert abs(evaluation.kernel_distance(a, b)) < 0.01  # unbiased: about 0 for two samples of one distribution
    assert evaluation.kernel_distance(a, b + 1.0) > 0.5
    figures = evaluation.distance_figures(
        {"same": b, "shifted": b + 1.0},
        {"same": np.arange(300) % 2, "shifted": np.arange(300) % 2},
        a,
        np.arange(300) % 2,
        ["x", "y"],
    )
    assert (
        figures["same"]["kid"] < 0.01 < figures["shifted"]["kid"]
        and figures["same"]["frechet"] < figures["shifted"]["frechet"]
    )
    assert set(figures["same"]["per_class"]) == {"x", "y"}
    with pytest.raises(ValueError, match="at least 2 samples"):
        evaluation.kernel_distance(a[:1], a)


def test_diversity_and_nearest_distances():
    points = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert evaluation.pairwise_mean(points) == pytest.approx(5.0)
    assert evaluation.pairwise_mean(points[:1]) == 0.0
    np.testing.assert_allclose(
        evaluation.nearest_distances(np.array([[0.0, 1.0], [3.0, 4.0]]), points), [1.0, 0.0], atol=1e-7
    )


def test_the_judge_never_heard_the_clips_it_judges_nor_the_gans_recordings(demo_root):
    competition = scan_competition(demo_root)
    real = load_real_clips(competition, preflight(competition), SMALL, None, 1)
    gan_clips, held_out = gan_and_held_out(real, 0.2, seed=0)
    assert not set(gan_clips.groups) & set(held_out.groups)
    half_a, half_b = evaluation.split_halves(held_out.labels, held_out.groups, seed=0)
    assert not {held_out.groups[i] for i in half_a} & {held_out.groups[i] for i in half_b}
    assert len(half_a) + len(half_b) == len(held_out.labels) and set(held_out.labels[half_a]) == set(
        held_out.labels[half_b]
    )


def test_a_judge_fitted_on_embeddings_labels_them(tmp_path, demo_root):
    clips = sorted((demo_root / "train" / "train").glob("*/*.wav"))
    labels = np.array([CLASSES.index(p.parent.name) for p in clips])
    embedded = FeatureStore(SMALL, None, workers=1).embeddings(clips, "birdnet").features
    judge = evaluation.fit_judge(embedded[::2], labels[::2], seed=0)
    probabilities = evaluation.judge_probabilities([judge, judge], embedded[1::2], 5)
    assert probabilities.shape == (60, 5) and np.allclose(probabilities.sum(1), 1)
    assert (
        evaluation.accuracy_figures(probabilities, labels[1::2], CLASSES)["overall"] > 0.8
    )  # synthetic sounds, heard apart


# -- end to end --------------------------------------------------------------------------------------------------------


def test_cgan_trains_resumes_generates_and_evaluates_on_the_demo(demo_root, tmp_path, monkeypatch, caplog):
    """The small audio config keeps this a CPU test; --resume and --generate go through the script."""
    caplog.set_level(logging.INFO)
    run = tmp_path / "gan"
    options = GanOptions(
        data=str(demo_root),
        run_dir=str(run),
        cache_dir=str(tmp_path / "cache"),
        eval_per_class=2,
        audio=SMALL,
        gan=GanConfig(latent_dim=8, width=4, epochs=2, batch_size=16, sample_every=1, griffin_lim_iters=2),
    )
    original = training.CheckpointEveryEpoch.on_epoch_end

    def save_then_stop(self, epoch, logs=None):
        original(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(training.CheckpointEveryEpoch, "on_epoch_end", save_then_stop)
    with pytest.raises(RunInterrupted, match="the checkpoint of epoch 1"):
        run_gan_training(options)
    monkeypatch.undo()
    judged = []
    real_embed_images = evaluation.embed_images

    def spy(images, *args, **kwargs):
        judged.append(images)
        return real_embed_images(images, *args, **kwargs)

    monkeypatch.setattr(evaluation, "embed_images", spy)
    assert json.loads((run / "checkpoint" / "epoch.json").read_text())["epochs_done"] == 1

    assert cli.main(["--resume", str(run), "--cache-dir", str(tmp_path / "cache"), "--eval-per-class", "2"]) == 0
    assert "resuming the CGAN after epoch 1" in caplog.text
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [0, 1]
    assert sorted(os.listdir(run / "gan_generated_audio")) == sorted(
        f"{c}_ep2.wav" for c in CLASSES
    )  # epoch 1 was cut short
    assert sorted(os.listdir(run / "gan_spectrogram_plots")) == ["epoch_002.png"]
    assert (run / "losses.png").is_file() and (run / "checkpoint" / "ema_generator.weights.h5").is_file()
    report = json.loads((run / "evaluation.json").read_text())
    assert (
        report["clips"]["generated"] == 10
        and report["chance"] == 0.2
        and report["candidates"] == GanConfig().candidates
    )
    for part in (
        "generated",
        "real (ceiling)",
        "real, the files themselves",
        "its training clips",
        "untrained generator",
    ):
        figures = report["conditional_accuracy"][part]
        assert set(figures["per_class"]) == set(CLASSES)
        assert figures["interval"]["low"] <= figures["overall"] <= figures["interval"]["high"]
    generated = report["conditional_accuracy"]["generated"]  # 2 clips of each class
    assert all(2 * v == round(2 * v) for v in generated["per_class"].values())
    assert generated["overall"] == pytest.approx(np.mean(list(generated["per_class"].values())))
    for part in ("generated", "real (floor)", "untrained generator"):
        assert np.isfinite(report["distances"][part]["kid"]) and report["distances"][part]["frechet"] >= 0
    assert set(report["train_on_synthetic"]) == {"real only", "synthetic only", "real + synthetic"}
    assert (
        report["seconds"] < 120 and "CGAN evaluation in BirdNET's embedding" in caplog.text
    )  # a smoke run's evaluation is cheap
    assert "the inversion's cost  real through Griffin-Lim" in caplog.text and "a faithful generator" in caplog.text
    # generated and real clips took one path: images of the log-Mel's shape in [-1, 1] (real ones scaled, clipped)
    assert (
        len(judged) == 1
        and judged[0].shape[1:] == SMALL.feature_shape == (32, 63)
        and judged[0].min() >= -1.0
        and judged[0].max() <= 1.0
    )
    assert (
        len(judged[0])
        == 2 * report["clips"]["generated"]
        + report["clips"]["held_out_a"]
        + report["clips"]["held_out_b"]
        + report["clips"]["gan_training_references"]
    )
    # the GAN-test judge learned from every training file of the GAN, the held-out recordings' aside
    competition = scan_competition(demo_root)
    gan_clips, _ = gan_and_held_out(load_real_clips(competition, preflight(competition), SMALL, None, 1), 0.2, 42)
    assert report["goals_judge"] == "gan_test" and report["clips"]["gan_training_files"] == len(gan_clips.labels) < 120
    gan_test = report["gan_test"]
    real_files = gan_test["real, the files themselves"]
    assert real_files["overall"] >= 0.9  # synthetic sounds, heard apart by a judge that learned them
    assert gan_test["ratio"]["overall"] == pytest.approx(gan_test["generated"]["overall"] / real_files["overall"])
    for part in ("generated", "real, the files themselves", "real through the path"):
        assert set(gan_test[part]["per_class"]) == set(CLASSES)
        assert gan_test[part]["interval"]["low"] <= gan_test[part]["overall"] <= gan_test[part]["interval"]["high"]
    assert "GAN-test judge (fitted on the GAN's own training files; the goals read it)" in caplog.text
    generated = report["conditional_accuracy"]["generated"]
    assert generated["interval"]["low"] <= generated["overall"] <= generated["interval"]["high"]
    assert set(generated["per_class_interval"]) == set(CLASSES)
    kid = report["distances"]["generated"]["kid_interval"]
    assert kid["low"] <= kid["high"] and "95% intervals by bootstrap" in caplog.text
    assert report["listening"] == str(run / "listening.html") and f"listen: {run / 'listening.html'}" in caplog.text
    check_listening_page(run)
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary) >= {"train_s", "evaluate_s", "total_s"}

    assert cli.main(["--generate", str(run), "--per-class", "2", "--out", str(tmp_path / "generated")]) == 0
    listing = pd.read_csv(tmp_path / "generated" / "generated.csv")
    assert len(listing) == 10 and listing["class"].value_counts().to_dict() == {c: 2 for c in CLASSES}
    for name in listing["file"]:
        info = sf.info(str(tmp_path / "generated" / name))
        assert (info.samplerate, info.frames, info.subtype) == (8000, 8000, "PCM_16")


def check_listening_page(run) -> None:
    """The page parses as HTML, has a section per class, and every player plays a WAV beside it."""
    from html.parser import HTMLParser

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.sources, self.sections, self.open = [], 0, []

        def handle_starttag(self, tag, attrs):
            if tag not in ("meta", "link", "br", "img", "input"):  # void elements have no end tag
                self.open.append(tag)
            self.sections += tag == "section"
            self.sources += [dict(attrs)["src"]] if tag == "audio" else []

        def handle_endtag(self, tag):
            assert self.open.pop() == tag, f"</{tag}> closes another element"

    page = Collect()
    page.feed((run / "listening.html").read_text())
    assert page.open == []
    assert page.sections == len(CLASSES) and len(page.sources) >= 2 * len(CLASSES)
    assert any("_generated_" in s for s in page.sources) and any("_real_" in s for s in page.sources)
    for source in page.sources:
        assert sf.info(str(run / source)).format == "WAV"


def test_generate_from_a_folder_that_is_not_a_run(tmp_path, caplog):
    assert cli.main(["--generate", str(tmp_path)]) == 2
    assert "is not a CGAN run folder" in caplog.text


@pytest.mark.parametrize("option, commit", [("frame_branch", "620d979"), ("half_resolution", "6cb12d3")])
def test_a_run_trained_with_a_retired_option_is_refused_by_name(tmp_path, caplog, option, commit):
    config = {"audio": {}, "gan": {option: True}, "classes": ["a", "b"]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert cli.main(["--generate", str(tmp_path)]) == 2
    assert f"{tmp_path} was saved with {option} = True, which measurement retired" in caplog.text
    assert f"freqquest at commit {commit} reads it" in caplog.text


def test_a_retired_option_that_was_off_is_passed_over():
    saved = {"frame_branch": False, "half_resolution": False, "width": 8}
    assert from_dict(GanConfig, saved) == GanConfig(width=8)
