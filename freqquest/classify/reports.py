"""What a run leaves for a person to trust it: classification report, confusion matrix,
training curves."""

import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import classification_report, confusion_matrix  # noqa: E402

from ..figures import plot_history, save_figure  # noqa: E402
from ..io import atomic_path, write_text_atomic  # noqa: E402
from ..runs import CONFUSION_MATRIX, REPORT_JSON, REPORT_TEXT, VALIDATION_PREDICTIONS  # noqa: E402


def evaluate(y_true, y_pred, classes: list) -> dict:
    labels = list(range(len(classes)))
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=classes, output_dict=True, zero_division=0
    )
    return {
        "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
        "n": int(len(y_true)),
        "per_class": {c: report[c] for c in classes},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "text": classification_report(y_true, y_pred, labels=labels, target_names=classes, digits=3, zero_division=0),
    }


def write_evaluation(run_dir, evaluation: dict, classes: list, title: str) -> None:
    text = f"{title}\naccuracy {evaluation['accuracy']:.4f} on {evaluation['n']} clips\n\n{evaluation['text']}"
    write_text_atomic(os.path.join(run_dir, REPORT_TEXT), text)
    summary = {k: v for k, v in evaluation.items() if k != "text"}
    write_text_atomic(
        os.path.join(run_dir, REPORT_JSON), json.dumps({"title": title, "classes": classes, **summary}, indent=2)
    )
    plot_confusion_matrix(
        np.array(evaluation["confusion_matrix"]), classes, os.path.join(run_dir, CONFUSION_MATRIX), title
    )


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


NETWORK_CURVES = {
    "loss of the network alone": {"loss": "train", "val_loss": "validation"},
    "accuracy of the network alone": {"accuracy": "train", "val_accuracy": "validation"},
}
NETWORK_CURVES_TITLE = "training curves of the network (the run's summary reports the blend of every member)"


def plot_network_curves(history_csv, path) -> None:
    plot_history(history_csv, path, NETWORK_CURVES, NETWORK_CURVES_TITLE)


def write_table(table: pd.DataFrame, path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_validation_predictions(
    run_dir, train_paths: list, labels: np.ndarray, probabilities: np.ndarray, classes: list
) -> None:
    """Every validated clip with its true and predicted class and probabilities (out of fold
    with --folds): what to listen to when looking for the model's mistakes."""
    validated = ~np.isnan(probabilities[:, 0])
    table = pd.DataFrame(probabilities[validated], columns=classes)
    table.insert(0, "predicted", [classes[k] for k in probabilities[validated].argmax(axis=1)])
    table.insert(0, "class", [classes[k] for k in labels[validated]])
    table.insert(0, "path", [p for p, v in zip(train_paths, validated) if v])
    write_table(table, os.path.join(run_dir, VALIDATION_PREDICTIONS))
