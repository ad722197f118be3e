"""Fit a model with checkpoints, learning-rate and early-stopping callbacks; resumable;
on every GPU with mixed precision when there are GPUs (a TPU when one is attached), on the
CPU otherwise, with the same code."""

import json
import logging
import os

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm.auto import tqdm

from ..config import TrainConfig
from ..io import naming, write_text_atomic
from ..quiet import VERBOSE
from ..runs import BACKUP_DIR, BEST_MODEL, FOLD_DONE, HISTORY, fold_dir
from . import build_model
from .augment import batch_augmenter

log = logging.getLogger(__name__)


def select_strategy(devices=None) -> tf.distribute.Strategy:
    """All GPUs via MirroredStrategy when there are several; a TPU when the platform has one;
    else the default strategy (one GPU or the CPU). `devices` names devices explicitly."""
    if devices:
        return (
            tf.distribute.MirroredStrategy(devices) if len(devices) > 1 else tf.distribute.OneDeviceStrategy(devices[0])
        )
    if os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_ACCELERATOR_TYPE"):
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def gpus_visible() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def precision_policy(strategy: tf.distribute.Strategy) -> str:
    """mixed_float16 on GPUs, mixed_bfloat16 on TPUs, float32 on the CPU."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    if gpus_visible():
        return "mixed_float16"
    return "float32"


def describe_strategy(strategy: tf.distribute.Strategy) -> str:
    """Where the networks train, in plain words: 'the networks train on the CPU, in float32'."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return f"the networks train on a TPU ({strategy.num_replicas_in_sync} cores), in mixed bfloat16"
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return f"the networks train on {len(gpus)} GPU{'s' if len(gpus) > 1 else ''}, in mixed float16"
    return "the networks train on the CPU, in float32"


class EpochBar(keras.callbacks.Callback):
    """One progress bar a network: its epochs, with the last one's loss and accuracy, training and
    validation. Keras's own lines are for --verbose."""

    def __init__(self, label: str, epochs: int):
        super().__init__()
        self.label, self.epochs, self.bar = label, epochs, None

    def on_train_begin(self, logs=None):
        self.bar = tqdm(total=self.epochs, desc=self.label, unit="epoch", leave=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.n = epoch + 1  # a resumed training starts past epoch 0
        self.bar.set_postfix(
            {k: f"{logs[k]:.3f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs}, refresh=True
        )

    def on_train_end(self, logs=None):
        self.bar.close()


def make_dataset(
    features, labels, n_classes: int, batch_size: int, shuffle: bool, seed: int, augment=None
) -> tf.data.Dataset:
    """Batches of (log-Mel, one-hot label); shuffled and augmented per batch for training."""
    one_hot = np.eye(n_classes, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]
    dataset = tf.data.Dataset.from_tensor_slices((features, one_hot))
    if shuffle:
        dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augment is not None:
        dataset = dataset.map(augment)  # sequential: the seeded generator then gives the same epochs again
    return dataset.prefetch(tf.data.AUTOTUNE)


def best_val_accuracy(run_dir) -> float | None:
    path = os.path.join(run_dir, HISTORY)
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return None
    history = pd.read_csv(path)
    return float(history["val_accuracy"].max()) if "val_accuracy" in history and len(history) else None


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    learning_rate = config.learning_rate
    if config.schedule == "cosine":
        warmup = min(config.warmup_epochs, config.epochs - 1) * steps_per_epoch
        learning_rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=config.learning_rate / 10,
            decay_steps=max(1, config.epochs * steps_per_epoch - warmup),
            alpha=0.01,
            warmup_target=config.learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(learning_rate)


def train(x_train, y_train, x_val, y_val, n_classes: int, config: TrainConfig, run_dir, strategy=None):
    """Train `config.model`; returns the best model (by validation accuracy) as saved on disk.

    An interrupted call continues from its last finished epoch when called again with the
    same run_dir (BackupAndRestore); the best-so-far threshold comes back from history.csv.
    """
    strategy = strategy or select_strategy()
    keras.mixed_precision.set_global_policy(precision_policy(strategy))
    keras.utils.set_random_seed(config.seed)
    os.makedirs(run_dir, exist_ok=True)
    stats = (float(x_train.mean()), float(x_train.var())) if config.normalization == "global" else None
    steps_per_epoch = -(-len(x_train) // config.batch_size)

    with strategy.scope():
        model = build_model(
            config.model,
            x_train.shape[1:],
            n_classes,
            config.normalization,
            stats,
            config.width,
            config.weights,
            config.tune_from,
        )
        model.compile(
            optimizer=make_optimizer(config, steps_per_epoch),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
    callbacks = training_callbacks(config, run_dir, best_val_accuracy(run_dir))
    augment = batch_augmenter(config, config.seed) if config.augments else None
    with naming(run_dir):  # the checkpoints are written there
        model.fit(
            make_dataset(
                x_train, y_train, n_classes, config.batch_size, shuffle=True, seed=config.seed, augment=augment
            ),
            validation_data=make_dataset(x_val, y_val, n_classes, config.batch_size, shuffle=False, seed=config.seed),
            epochs=config.epochs,
            callbacks=callbacks,
            shuffle=False,  # the dataset shuffles itself, seeded
            verbose=2 if os.environ.get(VERBOSE) else 0,
        )
    return keras.models.load_model(os.path.join(run_dir, BEST_MODEL))


def training_callbacks(config: TrainConfig, run_dir, previous_best: float | None) -> list:
    """Resumable training's callbacks: a backup each epoch, the best model by validation accuracy (above
    `previous_best`, the threshold an interrupted call reached), early stopping, the plateau schedule when
    the config has it, history.csv (appended to on a resume), and the epoch bar unless verbose."""
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, BACKUP_DIR), double_checkpoint=True),
        keras.callbacks.ModelCheckpoint(
            os.path.join(run_dir, BEST_MODEL),
            monitor="val_accuracy",
            mode="max",
            save_best_only=True,
            initial_value_threshold=previous_best,
        ),
    ]
    if config.schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=config.reduce_lr_patience, min_lr=1e-5
            )
        )
    callbacks += [
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=config.early_stopping_patience, restore_best_weights=True
        ),
        keras.callbacks.CSVLogger(os.path.join(run_dir, HISTORY), append=previous_best is not None),
    ]
    if not os.environ.get(VERBOSE):
        callbacks.append(EpochBar(os.path.basename(os.path.normpath(run_dir)).replace("_", " "), config.epochs))
    return callbacks


def fold_network(x_train, y_train, x_val, y_val, n_classes: int, config: TrainConfig, directory, strategy=None):
    """The fold's network: loaded when it finished before (FOLD_DONE), else trained."""
    if os.path.isfile(os.path.join(directory, FOLD_DONE)):
        log.info("  its network finished before; loading it")
        return keras.models.load_model(os.path.join(directory, BEST_MODEL))
    model = train(x_train, y_train, x_val, y_val, n_classes, config, directory, strategy)
    write_text_atomic(os.path.join(directory, FOLD_DONE), json.dumps({"train": len(x_train), "val": len(x_val)}))
    return model


def load_fold_models(run_dir, folds: int) -> list:
    """The best model of each of a finished run's folds, in fold order."""
    paths = [os.path.join(fold_dir(run_dir, fold), BEST_MODEL) for fold in range(folds)]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} not found: {run_dir} is not a finished freqquest run")
    return [keras.models.load_model(p) for p in paths]
