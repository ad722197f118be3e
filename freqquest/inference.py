"""Class probabilities from trained models (fold ensembles, test-time augmentation, the blend
of the network with classical models), and class names from probabilities."""
import dataclasses

import numpy as np

from .classical import predict_classical
from .config import NETWORK
from .inputs import ClipInputs


@dataclasses.dataclass
class Blend:
    """The members whose probabilities are averaged: the fold networks (one member), and each
    classical model by name (one member each, its fitted instances averaged; those on an
    embedding included). A clip recorded at a sample rate in `matched` gets that rate's
    classical models instead (bandwidth.py)."""

    n_classes: int
    networks: list  # keras.Model; none for a recipe without a network
    classical: dict = dataclasses.field(default_factory=dict)  # name -> list of fitted models
    matched: dict = dataclasses.field(default_factory=dict)  # sample rate -> {name -> list of fitted models}


def predict_proba(model, features: np.ndarray, batch_size: int = 64) -> np.ndarray:
    if len(features) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.asarray(model.predict(features, batch_size=batch_size, verbose=0), dtype=np.float32)


def tta_views(features: np.ndarray, n_views: int):
    """`n_views` copies of the log-Mels rolled in time by evenly spaced offsets; view 0 is the
    clip itself. Clips are looped to length, so every view is the same sound from another start."""
    n_frames = features.shape[-1]
    for view in range(n_views):
        yield np.roll(features, -((view * n_frames) // n_views), axis=-1)


def predict_ensemble(models: list, features: np.ndarray, tta: int = 1, batch_size: int = 64) -> np.ndarray:
    """The mean of the class probabilities over every model and every test-time view."""
    if not models:
        raise ValueError("predict_ensemble needs at least one model")
    total = None
    for view in tta_views(features, tta):
        for model in models:
            p = predict_proba(model, view, batch_size)
            total = p if total is None else total + p
    return total / (len(models) * tta)


def to_class_names(probabilities: np.ndarray, classes: list, usable: np.ndarray, fallback: str) -> list:
    """The most probable class per row; `fallback` where the row's clip could not be read."""
    best = probabilities.argmax(axis=1)
    return [classes[b] if ok else fallback for b, ok in zip(best, usable)]


def _predict_instances(name: str, models: list, inputs: ClipInputs, n_classes: int) -> np.ndarray:
    return np.mean([predict_classical(name, model, inputs, n_classes) for model in models], axis=0)


def predict_members(blend: Blend, inputs: ClipInputs, tta: int = 1, rates=None) -> dict:
    """Each member's probabilities, NETWORK first (when the blend has networks): the networks over
    their `tta` views, each classical model once (its time-pooled statistics hardly change under a
    roll). `rates`, each clip's native sample rate, routes the clips at a rate in `blend.matched`
    to its models."""
    members = {NETWORK: predict_ensemble(blend.networks, inputs.log_mels, tta)} if blend.networks else {}
    n_classes = blend.n_classes
    matched_rows = {} if rates is None else {rate: np.flatnonzero(np.asarray(rates) == rate) for rate in blend.matched}
    for name, models in blend.classical.items():
        members[name] = _predict_instances(name, models, inputs, n_classes)
        for rate, rows in matched_rows.items():
            if len(rows) and name in blend.matched[rate]:
                members[name][rows] = _predict_instances(name, blend.matched[rate][name], inputs.take(rows), n_classes)
    return members


def average_members(members: dict) -> np.ndarray:
    """The unweighted mean of the members' probabilities."""
    return np.mean(list(members.values()), axis=0).astype(np.float32)
