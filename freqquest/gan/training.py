"""Train the CGAN: scale the log-Mels, feed batches in an order fixed by (seed, epoch), and
after every epoch save a checkpoint (both models, both optimizers, the noise generator's
state), so `--resume` continues with the same losses and step count as if never stopped."""

import csv
import json
import logging
import os
import shutil

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from ..config import AudioConfig, from_dict, to_dict
from ..io import naming, write_text_atomic
from ..runs import GAN_CHECKPOINT, HISTORY, read_config, write_config
from .config import GanConfig
from .model import ConditionalGAN, build_discriminator, build_generator

log = logging.getLogger(__name__)


def build_gan(config: GanConfig, n_classes: int, shape: tuple) -> ConditionalGAN:
    """The GAN of `config` for images of `shape` (the log-Mel's)."""
    generator = build_generator(config.latent_dim, n_classes, shape, config.width)
    discriminator = build_discriminator(n_classes, shape, config.width)
    average = None
    if config.ema_decay:
        average = build_generator(config.latent_dim, n_classes, shape, config.width)
        average.set_weights(generator.get_weights())
    gan = ConditionalGAN(generator, discriminator, config, average)
    gan.compile(
        g_optimizer=keras.optimizers.Adam(config.g_learning_rate, beta_1=config.beta_1, beta_2=config.beta_2),
        d_optimizer=keras.optimizers.Adam(config.d_learning_rate, beta_1=config.beta_1, beta_2=config.beta_2),
    )
    gan.build_optimizers()
    return gan


def write_gan_config(
    run_dir,
    audio: AudioConfig,
    config: GanConfig,
    classes: list,
    top_db: float,
    data_root,
    holdout_fraction: float,
    eval_data=None,
) -> None:
    payload = {
        "audio": to_dict(audio),
        "gan": to_dict(config),
        "classes": list(classes),
        "top_db": float(top_db),
        "holdout_fraction": holdout_fraction,
        "data": os.path.abspath(data_root),
        "eval_data": os.path.abspath(eval_data) if eval_data else None,
    }
    write_config(run_dir, payload)


def read_gan_config(run_dir) -> dict:
    payload = read_config(run_dir, "CGAN")
    if "gan" not in payload:
        raise FileNotFoundError(f"{run_dir} is a classifier run, not a CGAN run")
    try:
        payload["gan"] = from_dict(GanConfig, payload["gan"])
    except ValueError as error:
        raise ValueError(f"{run_dir} was {error}") from None
    return payload


def epoch_batches(x, y, batch_size: int, seed: int, first_epoch: int, epochs: int) -> tf.data.Dataset:
    """Batches for epochs first_epoch..epochs-1; epoch e is shuffled by a permutation seeded by
    (seed, e), so a resumed run sees exactly the batches the uninterrupted one would have."""
    features, labels = tf.constant(x), tf.constant(np.asarray(y, np.int32))

    def one_epoch(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(len(x), dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    dataset = tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch)
    return dataset.map(lambda index: (tf.gather(features, index), tf.gather(labels, index))).prefetch(tf.data.AUTOTUNE)


def save_checkpoint(gan: ConditionalGAN, run_dir, epochs_done: int) -> None:
    """Write the checkpoint to a fresh folder, then swap it in: a crash leaves the old one whole."""
    final = os.path.join(run_dir, GAN_CHECKPOINT)
    staging, old = final + ".new", final + ".old"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    with naming(staging):
        gan.generator.save_weights(os.path.join(staging, "generator.weights.h5"))
        gan.discriminator.save_weights(os.path.join(staging, "discriminator.weights.h5"))
        if gan.ema_generator is not None:
            gan.ema_generator.save_weights(os.path.join(staging, "ema_generator.weights.h5"))
        np.savez(
            os.path.join(staging, "state.npz"),
            **{f"g_{i}": np.asarray(v) for i, v in enumerate(gan.g_optimizer.variables)},
            **{f"d_{i}": np.asarray(v) for i, v in enumerate(gan.d_optimizer.variables)},
            noise_seed=np.asarray(gan.noise_seed.state),
        )
        with open(os.path.join(staging, "epoch.json"), "w") as f:
            json.dump({"epochs_done": epochs_done, "step": int(gan.g_optimizer.iterations)}, f)
    if os.path.isdir(final):
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def _checkpoint_dir(run_dir) -> str:
    directory = os.path.join(run_dir, GAN_CHECKPOINT)
    if not os.path.isdir(directory) and os.path.isdir(directory + ".old"):
        directory += ".old"  # interrupted between the two renames
    return directory


def checkpoint_epochs(run_dir) -> int:
    """The epochs the run's checkpoint holds (0 before the first)."""
    path = os.path.join(_checkpoint_dir(run_dir), "epoch.json")
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        return json.load(f)["epochs_done"]


def load_checkpoint(gan: ConditionalGAN, run_dir, models_only: bool = False) -> int:
    """Restore what save_checkpoint wrote; returns the number of finished epochs (0 if none)."""
    directory = _checkpoint_dir(run_dir)
    if not os.path.isfile(os.path.join(directory, "epoch.json")):
        return 0
    gan.generator.load_weights(os.path.join(directory, "generator.weights.h5"))
    gan.discriminator.load_weights(os.path.join(directory, "discriminator.weights.h5"))
    if gan.ema_generator is not None:
        gan.ema_generator.load_weights(os.path.join(directory, "ema_generator.weights.h5"))
    if not models_only:
        state = np.load(os.path.join(directory, "state.npz"))
        for prefix, optimizer in (("g", gan.g_optimizer), ("d", gan.d_optimizer)):
            for i, variable in enumerate(optimizer.variables):
                variable.assign(state[f"{prefix}_{i}"])
        gan.noise_seed.state.assign(state["noise_seed"])
    return checkpoint_epochs(run_dir)


class CheckpointEveryEpoch(keras.callbacks.Callback):
    def __init__(self, run_dir):
        super().__init__()
        self.run_dir = run_dir

    def on_epoch_end(self, epoch, logs=None):
        save_checkpoint(self.model, self.run_dir, epoch + 1)


class HistoryWriter(keras.callbacks.Callback):
    """history.csv, a row per epoch, appended as it ends. Keras's CSVLogger would add empty val_
    columns: the GAN has no validation data."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch} | {name: float(value) for name, value in sorted((logs or {}).items())}
        starts = not (os.path.isfile(self.path) and os.path.getsize(self.path))
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if starts:
                writer.writeheader()
            writer.writerow(row)


def trim_history(run_dir, epochs_done: int) -> None:
    """Drop history rows of epochs the checkpoint does not hold (they will be run again)."""
    path = os.path.join(run_dir, HISTORY)
    if os.path.isfile(path) and os.path.getsize(path):
        history = pd.read_csv(path)
        write_text_atomic(path, history[history["epoch"] < epochs_done].to_csv(index=False))


def train_gan(scaled, labels, n_classes: int, config: GanConfig, run_dir, callbacks=()) -> ConditionalGAN:
    """Train (or continue training) the CGAN in run_dir on log-Mels already scaled to [-1, 1]."""
    keras.utils.set_random_seed(config.seed)
    os.makedirs(run_dir, exist_ok=True)
    gan = build_gan(config, n_classes, scaled.shape[1:])
    epochs_done = load_checkpoint(gan, run_dir)
    if epochs_done:
        log.info("resuming the CGAN after epoch %d (step %d)", epochs_done, int(gan.g_optimizer.iterations))
    trim_history(run_dir, epochs_done)
    epochs, batches = config.epochs_for(len(scaled)), config.batches_per_epoch(len(scaled))
    budget = f"--epochs {config.epochs}" if config.epochs else f"the budget of {config.steps} steps"
    log.info(
        "the CGAN trains for %d epochs of %d batches: %d generator steps (%s)",
        epochs,
        batches,
        epochs * batches,
        budget,
    )
    if epochs_done >= epochs:
        return gan
    gan.fit(
        epoch_batches(scaled, labels, config.batch_size, config.seed, epochs_done, epochs),
        epochs=epochs,
        initial_epoch=epochs_done,
        steps_per_epoch=batches,
        shuffle=False,
        verbose=2,
        # history before checkpoint: a crash between the two leaves a row that trim_history drops
        callbacks=[HistoryWriter(os.path.join(run_dir, HISTORY)), CheckpointEveryEpoch(run_dir), *callbacks],
    )
    return gan
