"""What a run leaves for a person to trust it: classification report, confusion matrix,
training curves."""
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import classification_report, confusion_matrix  # noqa: E402

from .io import atomic_path, write_text_atomic  # noqa: E402


def evaluate(y_true, y_pred, classes: list) -> dict:
    labels = list(range(len(classes)))
    report = classification_report(y_true, y_pred, labels=labels, target_names=classes, output_dict=True, zero_division=0)
    return {
        "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
        "n": int(len(y_true)),
        "per_class": {c: report[c] for c in classes},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "text": classification_report(y_true, y_pred, labels=labels, target_names=classes, digits=3, zero_division=0),
    }


def write_evaluation(run_dir, evaluation: dict, classes: list, title: str) -> None:
    write_text_atomic(os.path.join(run_dir, "report.txt"), f"{title}\naccuracy {evaluation['accuracy']:.4f} on {evaluation['n']} clips\n\n{evaluation['text']}")
    summary = {k: v for k, v in evaluation.items() if k != "text"}
    write_text_atomic(os.path.join(run_dir, "report.json"), json.dumps({"title": title, "classes": classes, **summary}, indent=2))
    plot_confusion_matrix(np.array(evaluation["confusion_matrix"]), classes, os.path.join(run_dir, "confusion_matrix.png"), title)


def plot_confusion_matrix(matrix: np.ndarray, classes: list, path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 3, 1.2 * len(classes) + 1.5))
    shown = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(shown, ax=ax, label="clips")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(j, i, str(n), ha="center", va="center", color="white" if n > threshold else "black")
    save_figure(fig, path)


def plot_history(history_csv, path) -> None:
    """The network's loss and accuracy per epoch. The network alone: the run's summary reports the blend."""
    history = pd.read_csv(history_csv)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(history["epoch"] + 1, history[metric], marker="o", markersize=3, label="train")
        if f"val_{metric}" in history:
            ax.plot(history["epoch"] + 1, history[f"val_{metric}"], marker="o", markersize=3, label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{metric} of the network alone")
        ax.legend()
    fig.suptitle("training curves of the network (the run's summary reports the blend of every member)", fontsize=10)
    save_figure(fig, path)


def save_figure(fig, path, tight: bool = True) -> None:
    """`tight`: let matplotlib fit the axes (a figure laid out by hand says False)."""
    if tight:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
