"""Class probabilities from trained models (fold ensembles, test-time augmentation), and class
names from probabilities."""
import numpy as np


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
