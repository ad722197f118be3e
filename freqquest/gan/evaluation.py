"""How good are the generated clips? Every figure is taken in BirdNET's embedding (as Fréchet Audio
Distance takes its figures in VGGish's), by a judge that never heard the clips it judges nor the
recordings the GAN learned from, and every figure comes with the reference that gives it a
meaning:

- the real clips of the evaluation are recordings held out of the GAN's training, sent through
  exactly the generated clips' path (scaled to [-1, 1] and clipped, unscaled, Griffin-Lim, written
  as 16-bit WAV) before they are embedded;
- the judge is a logistic regression on the embedding (the birdnet member's recipe), cross-fitted
  on two halves of the held-out recordings: each half's judge labels the other half (the ceiling:
  what the judge makes of real clips through that path) and, averaged, the generated clips; the
  same cross-fitting on the held-out files as they are tells what the inversion path costs;
- the Kernel Inception Distance (unbiased; cubic polynomial kernel) and the Fréchet distance (in
  the embedding's first principal components, which a few hundred clips can estimate) are taken
  against one half, beside the other half (the floor) and an untrained generator;
- diversity is the mean distance between two clips of one class; memorization, each clip's
  distance to its nearest GAN training clip, generated beside held-out real;
- train on synthetic: the judge's recipe fitted on generated clips, on the GAN's training clips
  and on both, scored on every held-out clip;
- GAN-test (Shmelkov et al. 2018), the judge the goals are read with: the judge's recipe (the
  pipeline's default member) fitted on the GAN's own training files as they are, a judge as strong
  as the training data allows, judges the generated clips and the held-out real files; each
  generated figure is read as a share of the real files' (`ratio`).
"""

import dataclasses
import os
import tempfile

import numpy as np

from ..blend.classical import embedding_classifier
from ..competition.splits import group_split
from ..features.store import FeatureStore
from ..intervals import bootstrap_mean
from .inversion import log_mels_to_audio, write_wav

JUDGE = "birdnet"  # the embedding every figure is taken in
FRECHET_COMPONENTS = 32


def embed_audio(clips: np.ndarray, audio, workers=None) -> np.ndarray:
    """Clips (n, n_samples) at audio's rate -> (n, 1024): written as the generated clips are (16-bit
    WAV, in a temporary folder) and embedded as any file is."""
    with tempfile.TemporaryDirectory(prefix="freqquest-judge-") as folder:
        paths = []
        for k, clip in enumerate(clips):
            paths.append(os.path.join(folder, f"{k:05d}.wav"))
            write_wav(paths[-1], clip, audio.sample_rate)
        found = FeatureStore(audio, None, workers).embeddings(paths, JUDGE, desc="judge's embedding")
    return found.features


def embed_images(images: np.ndarray, scale, audio, n_iter: int, workers=None) -> np.ndarray:
    """The generated clips' path, for any of the GAN's images (generated, or real log-Mels scaled):
    unscaled to a log-Mel, Griffin-Lim, a 16-bit WAV, the judge's embedding. (n, 1024)."""
    return embed_audio(log_mels_to_audio(scale.unscale(images), audio, n_iter, workers), audio, workers)


def embed_files(paths: list, audio, workers=None, cache_dir=None) -> np.ndarray:
    """Files as they are (no Griffin-Lim): what the inversion path's ceiling is measured against, and
    what the GAN-test judge learns from. Cached in `cache_dir` where one is given."""
    store = FeatureStore(audio, cache_dir, workers)
    return store.embeddings(paths, JUDGE, desc="judge's embedding of the files").features


def cross_judged(judge_of_a, judge_of_b, a: np.ndarray, b: np.ndarray, n_classes: int) -> np.ndarray:
    """Each half labelled by the judge fitted on the other half: (a's rows, then b's) probabilities."""
    return np.concatenate(
        [judge_probabilities([judge_of_b], a, n_classes), judge_probabilities([judge_of_a], b, n_classes)]
    )


def fit_judge(embeddings: np.ndarray, labels: np.ndarray, seed: int):
    return embedding_classifier().fit(embeddings, labels)


def gan_test_figures(gan_test_judge, judged: dict, classes: list) -> dict:
    """GAN-test (Shmelkov et al. 2018): the judge's recipe fitted on the GAN's own training files
    judges each set, name -> (embeddings, labels, recordings or None); the held-out real files'
    accuracy is what the generated clips' is read against: `ratio`, overall and per class."""
    figures = {
        name: accuracy_figures(judge_probabilities([gan_test_judge], e, len(classes)), labels, classes, groups)
        for name, (e, labels, groups) in judged.items()
    }
    generated, real = figures["generated"], figures["real, the files themselves"]
    figures["ratio"] = {
        "overall": generated["overall"] / real["overall"] if real["overall"] else None,
        "per_class": {
            c: generated["per_class"][c] / real["per_class"][c]
            if generated["per_class"][c] is not None and real["per_class"][c]
            else None
            for c in classes
        },
    }
    return figures


def judge_probabilities(judges: list, embeddings: np.ndarray, n_classes: int) -> np.ndarray:
    """The mean of the judges' probabilities (a class a judge never saw gets 0 from it)."""
    out = np.zeros((len(embeddings), n_classes))
    for judge in judges:
        out[:, judge.classes_] += judge.predict_proba(embeddings) / len(judges)
    return out


def split_halves(labels: np.ndarray, groups: list, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of the held-out clips, whole recordings on one side, classes in both."""
    return group_split(labels, groups, 0.5, seed)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^1/2) between Gaussians fitted to the rows.
    Tr (C_a C_b)^1/2 is the sum of the square roots of C_a C_b's eigenvalues (real and not negative:
    the product is similar to a positive semi-definite matrix), which holds for the singular
    covariances that few clips give, where a matrix square root does not converge."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Fréchet distance needs at least 2 samples on each side")
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    trace_root = np.sqrt(np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0.0, None)).sum()
    distance = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root
    return float(max(distance, 0.0))


def kernel_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Kernel Inception Distance (Bińkowski et al. 2018): the unbiased squared MMD with the
    kernel k(x, y) = (x.y / d + 1)^3. Zero in expectation for two samples of one distribution."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the kernel distance needs at least 2 samples on each side")
    d = a.shape[1]
    k_aa, k_bb, k_ab = ((x @ y.T / d + 1) ** 3 for x, y in ((a, a), (b, b), (a, b)))
    m, n = len(a), len(b)
    return float(
        (k_aa.sum() - np.trace(k_aa)) / (m * (m - 1)) + (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1)) - 2 * k_ab.mean()
    )


class Projection:
    """Standardization and the first principal components of the reference clips' embedding."""

    def __init__(self, reference: np.ndarray, components: int = FRECHET_COMPONENTS):
        self.mean, self.std = reference.mean(0), reference.std(0) + 1e-6
        z = (reference - self.mean) / self.std
        _, _, vt = np.linalg.svd(z, full_matrices=False)
        self.basis = vt[: min(components, len(reference) - 1)].T

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std) @ self.basis


def pairwise_mean(e: np.ndarray) -> float:
    """Mean Euclidean distance between two different rows."""
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


def accuracy_figures(probabilities: np.ndarray, labels: np.ndarray, classes: list, groups=None) -> dict:
    """The judge's accuracy, overall and per class, each with its 95% interval from a bootstrap over
    `groups` (the recordings of real clips; None: over the clips, for generated ones)."""
    right = probabilities.argmax(1) == labels
    groups = None if groups is None else np.asarray(groups)

    def interval(mask):
        return bootstrap_mean(right[mask], None if groups is None else groups[mask]).as_dict()

    return {
        "overall": float(right.mean()),
        "interval": interval(np.ones(len(right), bool)),
        "per_class": {
            name: float(right[labels == k].mean()) if np.any(labels == k) else None for k, name in enumerate(classes)
        },
        "per_class_interval": {
            name: interval(labels == k) if np.any(labels == k) else None for k, name in enumerate(classes)
        },
    }


def kernel_distance_interval(embeddings: np.ndarray, reference: np.ndarray, draws: int = 200, seed: int = 0) -> dict:
    """The KID's 95% interval over resamples of the set's clips (the reference fixed)."""
    rng = np.random.default_rng(seed)
    values = [
        kernel_distance(embeddings[rng.integers(0, len(embeddings), len(embeddings))], reference) for _ in range(draws)
    ]
    low, high = np.percentile(values, [2.5, 97.5])
    return {"low": float(low), "high": float(high)}


def distance_figures(
    sets: dict, labels: dict, reference: np.ndarray, reference_labels: np.ndarray, classes: list
) -> dict:
    """KID and Fréchet distance of each set to the reference, overall and per class."""
    project = Projection(reference)
    out = {}
    for name, embeddings in sets.items():
        figures = {
            "kid": kernel_distance(embeddings, reference),
            "kid_interval": kernel_distance_interval(embeddings, reference),
            "frechet": frechet_distance(project(embeddings), project(reference)),
            "per_class": {},
        }
        for k, cls in enumerate(classes):
            mine, theirs = embeddings[labels[name] == k], reference[reference_labels == k]
            figures["per_class"][cls] = (
                {"kid": kernel_distance(mine, theirs), "frechet": frechet_distance(project(mine), project(theirs))}
                if len(mine) > 1 and len(theirs) > 1
                else None
            )
        out[name] = figures
    return out


def diversity_figures(embeddings: np.ndarray, labels: np.ndarray, classes: list) -> dict:
    per_class = {name: pairwise_mean(embeddings[labels == k]) for k, name in enumerate(classes)}
    return {"mean": float(np.mean(list(per_class.values()))), "per_class": per_class}


def train_on_synthetic(sets: dict, test: np.ndarray, test_labels: np.ndarray, n_classes: int, seed: int) -> dict:
    """The judge's recipe fitted on each (embeddings, labels) set, its accuracy on the test embeddings."""
    out = {}
    for name, (embeddings, labels) in sets.items():
        model = fit_judge(embeddings, labels, seed)
        out[name] = float(np.mean(judge_probabilities([model], test, n_classes).argmax(1) == test_labels))
    return out


@dataclasses.dataclass(frozen=True)
class Judged:
    """One set of clips in the judge's embedding, with their labels and, for real clips, recordings."""

    embeddings: np.ndarray
    labels: np.ndarray
    groups: list | None = None

    def __add__(self, other: "Judged") -> "Judged":
        groups = None if self.groups is None or other.groups is None else list(self.groups) + list(other.groups)
        return Judged(
            np.concatenate([self.embeddings, other.embeddings]), np.concatenate([self.labels, other.labels]), groups
        )


SETS = (
    "generated",  # the trained generator's clips, through the path
    "untrained generator",  # its clips before training: a floor
    "held-out a",  # real clips of recordings the GAN never heard, through the path: two halves of recordings
    "held-out b",
    "held-out files a",  # the same clips' files as they are
    "held-out files b",
    "its training clips",  # some of the GAN's training clips, through the path
    "its training files",  # every training file as it is: what the GAN-test judge learns from
)


def evaluation_figures(sets: dict, classes: list, seed: int) -> dict:
    """Every figure of the evaluation (this module's docstring) from the judged SETS, by name."""
    n = len(classes)
    generated, untrained, a, b, reference = (sets[k] for k in SETS[:4] + SETS[6:7])
    files_a, files_b = sets["held-out files a"], sets["held-out files b"]
    held, held_files = a + b, files_a + files_b
    judges = [fit_judge(a.embeddings, a.labels, seed), fit_judge(b.embeddings, b.labels, seed)]
    files_judges = [
        fit_judge(files_a.embeddings, files_a.labels, seed),
        fit_judge(files_b.embeddings, files_b.labels, seed),
    ]

    def by_both(judged: Judged) -> dict:
        return accuracy_figures(
            judge_probabilities(judges, judged.embeddings, n), judged.labels, classes, judged.groups
        )

    training_files = sets["its training files"]
    return {
        "goals_judge": "gan_test",
        "gan_test": gan_test_figures(
            fit_judge(training_files.embeddings, training_files.labels, seed),
            {
                "generated": (generated.embeddings, generated.labels, None),
                "real, the files themselves": (held_files.embeddings, held_files.labels, held_files.groups),
                "real through the path": (held.embeddings, held.labels, held.groups),
            },
            classes,
        ),
        "conditional_accuracy": {
            "generated": by_both(generated),
            "real (ceiling)": accuracy_figures(
                cross_judged(*judges, a.embeddings, b.embeddings, n), held.labels, classes, held.groups
            ),
            "real, the files themselves": accuracy_figures(
                cross_judged(*files_judges, files_a.embeddings, files_b.embeddings, n),
                held_files.labels,
                classes,
                held_files.groups,
            ),
            "its training clips": by_both(reference),
            "untrained generator": by_both(untrained),
        },
        "distances": distance_figures(
            {
                "generated": generated.embeddings,
                "untrained generator": untrained.embeddings,
                "real (floor)": b.embeddings,
            },
            {"generated": generated.labels, "untrained generator": untrained.labels, "real (floor)": b.labels},
            a.embeddings,
            a.labels,
            classes,
        ),
        "diversity": {
            "generated": diversity_figures(generated.embeddings, generated.labels, classes),
            "real": diversity_figures(held.embeddings, held.labels, classes),
        },
        "memorization": memorization_figures(generated.embeddings, held.embeddings, reference.embeddings),
        "train_on_synthetic": train_on_synthetic(
            {
                "real only": (reference.embeddings, reference.labels),
                "synthetic only": (generated.embeddings, generated.labels),
                "real + synthetic": ((reference + generated).embeddings, (reference + generated).labels),
            },
            held.embeddings,
            held.labels,
            n,
            seed,
        ),
    }


def memorization_figures(generated: np.ndarray, held_out: np.ndarray, training: np.ndarray) -> dict:
    """Each clip's distance to its nearest GAN training clip, generated beside held-out real: a
    generated clip nearer than every real one is a copy."""
    nearest_generated, nearest_real = nearest_distances(generated, training), nearest_distances(held_out, training)
    return {
        "generated": _quantiles(nearest_generated),
        "real": _quantiles(nearest_real),
        "generated_nearer_than_every_real": int(np.sum(nearest_generated < nearest_real.min())),
    }


def _quantiles(d: np.ndarray) -> dict:
    return {"min": float(d.min()), "median": float(np.median(d)), "p5": float(np.percentile(d, 5))}
