"""How good are the generated clips? Each number comes with the reference that gives it a
meaning: conditional accuracy beside real clips through the same Griffin-Lim round trip (the
ceiling) and chance; Fréchet distance beside real-vs-real (the floor) and an untrained
generator; diversity and nearest-neighbour distances beside the real clips' own."""
import keras
import numpy as np
import scipy.linalg

from ..features import log_mel


def embedding_model(classifier: keras.Model) -> keras.Model:
    """The classifier's penultimate layer (the 128-d "embedding" before the class layer)."""
    return keras.Model(classifier.inputs, classifier.get_layer("embedding").output)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^1/2) between Gaussians fitted to the rows."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Fréchet distance needs at least 2 samples on each side")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    if not np.all(np.isfinite(root)):
        eps = 1e-6 * np.eye(len(cov_a))
        root = scipy.linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * np.real(root))
    return float(max(distance, 0.0))


def mean_pairwise_distance(e: np.ndarray) -> float:
    """Mean Euclidean distance between distinct rows: how spread out a set of samples is."""
    if len(e) < 2:
        return 0.0
    d = np.sqrt(np.maximum(_squared_distances(e, e), 0.0))
    return float(d[~np.eye(len(e), dtype=bool)].mean())


def nearest_distances(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Each query's distance to its nearest reference row (small for a copied training clip)."""
    return np.sqrt(np.maximum(_squared_distances(queries, references), 0.0)).min(axis=1)


def _squared_distances(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T


def features_of_audio(clips: np.ndarray, audio_config) -> np.ndarray:
    return np.stack([log_mel(c, audio_config) for c in clips]) if len(clips) else np.zeros((0, *audio_config.feature_shape), np.float32)


def set_metrics(classifier, embed, features, labels, reference, reference_labels, classes) -> dict:
    """Accuracy under the classifier, Fréchet distance to `reference` (overall and per class),
    diversity and nearest-neighbour distance to `reference`."""
    probabilities = np.asarray(classifier.predict(features, verbose=0))
    embeddings, reference_embeddings = embed(features), embed(reference)
    per_class = {}
    for k, name in enumerate(classes):
        mine, theirs = embeddings[labels == k], reference_embeddings[reference_labels == k]
        per_class[name] = {
            "n": int(len(mine)),
            "accuracy": float(np.mean(probabilities[labels == k].argmax(1) == k)) if len(mine) else None,
            "frechet_distance": frechet_distance(mine, theirs) if len(mine) > 1 and len(theirs) > 1 else None,
            "diversity": mean_pairwise_distance(mine),
        }
    return {
        "n": int(len(features)),
        "accuracy": float(np.mean(probabilities.argmax(1) == labels)),
        "frechet_distance": frechet_distance(embeddings, reference_embeddings),
        "diversity": mean_pairwise_distance(embeddings),
        "nearest_reference_distance": float(nearest_distances(embeddings, reference_embeddings).mean()),
        "per_class": per_class,
    }
