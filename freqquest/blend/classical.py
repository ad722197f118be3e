"""Classical models on fixed clip representations, blended with the network: a logistic
regression and an SVM on statistics of the log-Mel (features/inputs.py), and a logistic
regression on each pretrained embedding (features/embeddings/).

The three averaged beat each alone on the honest benchmark (benchmarks/README.md, the scratch recipe).
"""

import dataclasses
import logging
import os

import joblib
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ..config import CLASSICAL_MODELS
from ..io import atomic_path
from ..runs import matched_dir

log = logging.getLogger(__name__)


def build_classical(name: str, labels: np.ndarray, seed: int):
    """logreg: L2 logistic regression (C=0.1); svm: RBF SVM (C=10) with sigmoid-calibrated
    probabilities from up to 5 stratified folds. Both on standardized statistics; C chosen on
    the honest benchmark."""
    if name == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    if name == "svm":
        calibration_folds = min(5, int(np.bincount(labels)[np.unique(labels)].min()))
        if calibration_folds < 2:
            raise ValueError("the svm needs at least 2 training clips of every class to calibrate its probabilities")
        return make_pipeline(
            StandardScaler(),
            CalibratedClassifierCV(
                SVC(C=10.0),
                method="sigmoid",
                ensemble=False,
                cv=StratifiedKFold(calibration_folds, shuffle=True, random_state=seed),
            ),
        )
    raise ValueError(f"unknown classical model {name!r}; choose from {', '.join(CLASSICAL_MODELS)}")


def embedding_classifier():
    """L2 logistic regression (C=0.001, chosen by group CV on the training fold) on a standardized
    pretrained embedding."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.001, max_iter=5000))


def predict_probabilities(model, rows: np.ndarray, n_classes: int) -> np.ndarray:
    """(clips, n_classes) float32 probabilities; a class the model never saw in training gets 0."""
    probabilities = np.zeros((len(rows), n_classes), dtype=np.float32)
    if len(rows):
        probabilities[:, model.classes_] = model.predict_proba(rows)
    return probabilities


def classical_path(directory, name: str) -> str:
    return os.path.join(directory, f"{name}.joblib")


@dataclasses.dataclass(frozen=True)
class ModelFolder:
    """A folder of fitted classical models: one saved there before is loaded (a resumed run gets what
    it fitted; --predict-only and the server get the run's), a new one is saved there when `save`
    (never by what only reads a run folder)."""

    directory: str
    save: bool = True

    def load_or_fit(self, name: str, fit):
        """The model saved here as `name`, or `fit()`'s: a run resumed from before its classical models
        were fitted (or from before they existed) gets them here."""
        path = classical_path(self.directory, name)
        if os.path.isfile(path):
            return load_classical(self.directory, name)
        model = fit()
        if self.save:
            with atomic_path(path) as tmp:
                joblib.dump(model, tmp)
        log.debug("%s fitted (%s)", name, path if self.save else "not saved")
        return model

    def at_rate(self, rate: int) -> "ModelFolder":
        """Where the models matched to sample rate `rate` are kept, beside these."""
        return ModelFolder(matched_dir(self.directory, rate), self.save)

    def holds(self, names) -> bool:
        return all(os.path.isfile(classical_path(self.directory, name)) for name in names)

    def __str__(self) -> str:
        return self.directory


class InMemory:
    """Models fitted for one use and kept nowhere: each random fold of the reused-recordings
    validation, which no run resumes or predicts from."""

    def load_or_fit(self, name: str, fit):
        return fit()

    def at_rate(self, rate: int) -> "InMemory":
        return self

    def holds(self, names) -> bool:
        return False

    def __str__(self) -> str:
        return "kept in memory"


IN_MEMORY = InMemory()


def load_classical(directory, name: str):
    path = classical_path(directory, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: {directory} is not a finished fold with a {name} model")
    return joblib.load(path)
