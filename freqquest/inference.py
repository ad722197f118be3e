"""Class probabilities from a trained model, and class names from probabilities."""
import numpy as np


def predict_proba(model, features: np.ndarray, batch_size: int = 64) -> np.ndarray:
    if len(features) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.asarray(model.predict(features, batch_size=batch_size, verbose=0), dtype=np.float32)


def to_class_names(probabilities: np.ndarray, classes: list, usable: np.ndarray, fallback: str) -> list:
    """The most probable class per row; `fallback` where the row's clip could not be read."""
    best = probabilities.argmax(axis=1)
    return [classes[b] if ok else fallback for b, ok in zip(best, usable)]
