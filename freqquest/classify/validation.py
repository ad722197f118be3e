"""How well the recipe does on each kind of test, measured the way each is tested.

- New recordings: group folds (the slices of a recording on one side), each fold's blend made on
  its training clips and judged on the other recordings as the test set is judged (the vote,
  pseudo-labels and routing included: blend/whole_set.py). These folds' blends also make the
  test blend.
- Reused recordings, as the reference leaderboard's random split reuses them: random folds over
  the clips, so that most validation clips have sibling slices in training. The members are
  fitted in memory for each fold and judged the same way. A recipe with a network would train it
  again for every fold; its figure on reused recordings is left out (None), and the log says so.
"""

import dataclasses
import logging
import os

import numpy as np
from sklearn.model_selection import StratifiedKFold

from ..blend import VALIDATION
from ..blend.bandwidth import match_bandwidth
from ..blend.classical import IN_MEMORY, ModelFolder
from ..blend.members import Blend, average_members, blend_for_fold, train_folds
from ..blend.whole_set import TrainingClips, predict_set
from ..config import TrainConfig
from ..features.store import FeatureStore
from ..runs import HISTORY, TRAINING_CURVES, fold_dir
from .reports import evaluate, plot_network_curves, write_evaluation, write_validation_predictions
from .summary import accuracy, describe_members

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Fitting:
    """What fitting the recipe works with: the recipe, the training clips, the feature store (for
    bandwidth matching), the run folder."""

    config: TrainConfig
    clips: TrainingClips
    store: FeatureStore
    run_dir: str


@dataclasses.dataclass
class Validation:
    """Out-of-fold probabilities of the recipe and of each member, which clips were routed as
    slices of training recordings, and each fold's blend."""

    probabilities: np.ndarray  # NaN where a clip was not validated
    members: dict
    routed: np.ndarray
    fold_accuracies: list
    blends: list

    @classmethod
    def empty(cls, n_clips: int, n_classes: int) -> "Validation":
        return cls(np.full((n_clips, n_classes), np.nan, np.float32), {}, np.zeros(n_clips, bool), [], [])

    @property
    def validated(self) -> np.ndarray:
        return ~np.isnan(self.probabilities[:, 0])

    def record(self, blend: Blend, val_idx, prediction, labels: np.ndarray) -> float:
        """A fold's whole_set.SetPrediction of its validation clips; its accuracy."""
        for name, probabilities in prediction.members.items():
            self.members.setdefault(name, np.full(self.probabilities.shape, np.nan, np.float32))[val_idx] = (
                probabilities
            )
        self.probabilities[val_idx] = prediction.probabilities
        self.routed[val_idx] = prediction.matches.matched
        self.blends.append(blend)
        self.fold_accuracies.append(accuracy(prediction.probabilities, labels))
        return self.fold_accuracies[-1]


def validate_new_recordings(fitting: Fitting) -> Validation:
    """Every group fold of the recipe: its blend made on the fold's training clips, judged on its other recordings."""
    from ..models.training import describe_strategy, select_strategy  # TensorFlow: only where a network is trained

    clips, config = fitting.clips, fitting.config
    strategy = select_strategy() if config.trains_network else None
    log.info(
        "fitting %s (%s) on %d clips of %d recordings%s",
        " + ".join(config.member_names),
        _fold_plan(config),
        len(clips.labels),
        len(set(clips.groups)),
        f"; {describe_strategy(strategy)}" if strategy else "",
    )
    validation = Validation.empty(len(clips.labels), clips.n_classes)
    folds = train_folds(clips.inputs, clips.labels, clips.groups, clips.n_classes, config, fitting.run_dir, strategy)
    for fold, blend, train_idx, val_idx in folds:
        directory = fold_dir(fitting.run_dir, fold)
        fold_accuracy, prediction = _judge_fold(fitting, validation, blend, train_idx, val_idx, ModelFolder(directory))
        log.info("  %s", describe_before_set(prediction.members, blend, clips.labels[val_idx]))
        log.info(
            "fold %d/%d: accuracy %.4f on %d clips of unseen recordings",
            fold + 1,
            config.folds,
            fold_accuracy,
            len(val_idx),
        )
        if config.trains_network:
            plot_network_curves(os.path.join(directory, HISTORY), os.path.join(directory, TRAINING_CURVES))
    return validation


def validate_reused_recordings(fitting: Fitting) -> Validation | None:
    """Random folds over the clips (the leaderboard's kind of test), members fitted in memory; None
    for a recipe with a network."""
    clips, config = fitting.clips, fitting.config
    if config.trains_network:
        log.info("reused recordings: not validated (the network would be trained again for each random fold)")
        return None
    folds = max(2, config.folds)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=config.seed)
    validation = Validation.empty(len(clips.labels), clips.n_classes)
    for fold, (train_idx, val_idx) in enumerate(splitter.split(np.zeros(len(clips.labels)), clips.labels)):
        blend = blend_for_fold(
            config, clips.inputs, clips.labels, train_idx, val_idx, clips.n_classes, IN_MEMORY, None, config.seed + fold
        )
        _judge_fold(fitting, validation, blend, train_idx, val_idx, IN_MEMORY)
    log.info(
        "reused recordings (%d random folds over the clips, most with sibling slices in training): accuracy %.4f",
        folds,
        accuracy(validation.probabilities, clips.labels),
    )
    return validation


def _judge_fold(fitting: Fitting, validation: Validation, blend: Blend, train_idx, val_idx, models) -> tuple:
    """A fold's validation clips judged as the test set is, by `blend` (its matched models kept by
    `models`, a classical.ModelFolder or IN_MEMORY): the fold's accuracy, and its whole_set.SetPrediction."""
    clips, config = fitting.clips, fitting.config
    y = clips.labels
    train_paths = [clips.paths[i] for i in train_idx]
    match_bandwidth(
        blend, config, fitting.store, train_paths, y[train_idx], clips.rates[val_idx], models, judged=VALIDATION
    )
    prediction = predict_set(
        blend, config, clips, train_idx, clips.inputs.take(val_idx), clips.rates[val_idx], VALIDATION
    )
    return validation.record(blend, val_idx, prediction, y[val_idx]), prediction


def describe_before_set(members: dict, blend: Blend, y) -> str:
    """A fold's accuracy before the set's vote, pseudo-labels and routing: each member's, and the
    blend's where there is more than one."""
    alone = {name: accuracy(p, y) for name, p in members.items()}
    before = "before the recording vote, pseudo-labels and routing"
    if len(alone) == 1:
        return f"{describe_members(alone)}, {before}"
    blended = accuracy(blend.average(members), y)
    return f"each member alone: {describe_members(alone)}; the blend {blended:.4f}, {before}"


def report_validation(
    validation: Validation, clips: TrainingClips, classes: list, config: TrainConfig, run_dir: str, demo: bool
) -> dict:
    """The evaluation of the out-of-fold predictions on new recordings, written to the run folder:
    the report, the confusion matrix, every validated clip; with each member's accuracy and the
    blend's before the set's vote, pseudo-labels and routing."""
    validated, y = validation.validated, clips.labels
    write_validation_predictions(run_dir, clips.paths, y, validation.probabilities, classes)
    evaluation = evaluate(y[validated], validation.probabilities[validated].argmax(axis=1), classes)
    kind = "out-of-fold" if config.folds > 1 else "validation"
    title = f"{' + '.join(config.member_names)}: {kind} accuracy on unseen recordings" + (
        " (synthetic demo data)" if demo else ""
    )
    write_evaluation(run_dir, evaluation, classes, title)
    evaluation["members"] = {name: accuracy(p[validated], y[validated]) for name, p in validation.members.items()}
    evaluation["blend_alone"] = accuracy(average_members(validation.members)[validated], y[validated])
    return evaluation


def _fold_plan(config: TrainConfig) -> str:
    held_out = f"one split, {config.val_fraction:.0%} of recordings held out"
    folds = f"{config.folds} group folds" if config.folds > 1 else held_out
    return folds + (f", {config.tta} test-time views" if config.tta > 1 else "")
