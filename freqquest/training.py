"""Fit a model with checkpoints, learning-rate and early-stopping callbacks; resumable;
on every GPU with mixed precision when there are GPUs (a TPU when one is attached), on the
CPU otherwise, with the same code."""
import logging
import os

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from .config import TrainConfig
from .models import build_model

log = logging.getLogger(__name__)

BEST_MODEL = "model.keras"
HISTORY = "history.csv"
BACKUP_DIR = "backup"


def select_strategy(devices=None) -> tf.distribute.Strategy:
    """All GPUs via MirroredStrategy when there are several; a TPU when the platform has one;
    else the default strategy (one GPU or the CPU). `devices` names devices explicitly."""
    if devices:
        return tf.distribute.MirroredStrategy(devices) if len(devices) > 1 else tf.distribute.OneDeviceStrategy(devices[0])
    if os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_ACCELERATOR_TYPE"):
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def precision_policy(strategy: tf.distribute.Strategy) -> str:
    """mixed_float16 on GPUs, mixed_bfloat16 on TPUs, float32 on the CPU."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16"
    return "float32"


def describe_strategy(strategy: tf.distribute.Strategy) -> str:
    gpus = tf.config.list_logical_devices("GPU")
    where = f"{len(gpus)} GPU(s)" if gpus else "CPU"
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s) on {where}"


def make_dataset(features, labels, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((features, labels.astype(np.int32)))
    if shuffle:
        dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def best_val_accuracy(run_dir) -> float | None:
    path = os.path.join(run_dir, HISTORY)
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return None
    history = pd.read_csv(path)
    return float(history["val_accuracy"].max()) if "val_accuracy" in history and len(history) else None


def train(x_train, y_train, x_val, y_val, n_classes: int, config: TrainConfig, run_dir, strategy=None):
    """Train `config.model`; returns the best model (by validation accuracy) as saved on disk.

    An interrupted call continues from its last finished epoch when called again with the
    same run_dir (BackupAndRestore); the best-so-far threshold comes back from history.csv.
    """
    strategy = strategy or select_strategy()
    keras.mixed_precision.set_global_policy(precision_policy(strategy))
    keras.utils.set_random_seed(config.seed)
    os.makedirs(run_dir, exist_ok=True)
    best_path = os.path.join(run_dir, BEST_MODEL)
    stats = (float(x_train.mean()), float(x_train.var())) if config.normalization == "global" else None

    with strategy.scope():
        model = build_model(config.model, x_train.shape[1:], n_classes, config.normalization, stats)
        model.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    previous_best = best_val_accuracy(run_dir)
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, BACKUP_DIR), double_checkpoint=True),
        keras.callbacks.ModelCheckpoint(
            best_path, monitor="val_accuracy", mode="max", save_best_only=True, initial_value_threshold=previous_best
        ),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=config.reduce_lr_patience, min_lr=1e-5),
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=config.early_stopping_patience, restore_best_weights=True
        ),
        keras.callbacks.CSVLogger(os.path.join(run_dir, HISTORY), append=previous_best is not None),
    ]
    model.fit(
        make_dataset(x_train, y_train, config.batch_size, shuffle=True, seed=config.seed),
        validation_data=make_dataset(x_val, y_val, config.batch_size, shuffle=False, seed=config.seed),
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # the dataset shuffles itself, seeded
        verbose=2,
    )
    return keras.models.load_model(best_path)
