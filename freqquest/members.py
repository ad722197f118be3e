"""The members of the blend, each one shape: what it reads of a set of clips (inputs.ClipInputs),
how it is fitted on a fold's training clips and then for the test, how it predicts class
probabilities, and where it is saved and loaded from. The blend is a list of members with their
weights; a new kind of member is one class here, not a branch in every caller.

- `NetworkMember`: the fold networks on log-Mels (cnn, resnet, efficientnetv2b0). A fold trains
  its own network; the test member is every fold's network, over `tta` views.
- `BirdNetNetworkMember`: the same for the network that fine-tunes BirdNET, on BirdNET's windows.
- `ClassicalMember`: a logistic regression or SVM on log-Mel statistics, or a logistic regression
  on a pretrained embedding (classical.py). A fold fits its own; the test member is refitted on
  every training clip. Members on log-Mel statistics can be matched to low sample rates
  (bandwidth.py): the clips recorded at such a rate are judged by models fitted at it.
"""
import dataclasses
import os

import numpy as np

from .classical import load_classical, load_or_fit_classical, predict_classical
from .config import BIRDNET, CLASSICAL_MODELS, NETWORK, TrainConfig
from .embeddings import BirdNetWindows
from .inputs import ClipInputs

CLASSICAL_DIR = "classical"  # the classical members fitted on every training clip


class Member:
    """What the blend asks of every member. A kind of member says how it is made for a fold
    (`for_fold`: fitted on the fold's training clips, validated on its other clips), for the test
    (`for_test`: from the folds' members and every training clip), and how a finished run's test
    member is loaded (`load`); the instances predict."""

    name: str  # its name among the blend's members: NETWORK, or the classical model's
    weight: float = 1.0
    matches_bandwidth = False  # whether clips recorded at a low rate get models matched to it (bandwidth.py)

    def predict(self, inputs: ClipInputs, rates=None) -> np.ndarray:
        """(clips, classes) float32 probabilities; `rates`: each clip's native sample rate."""
        raise NotImplementedError

    @classmethod
    def for_fold(cls, name: str, config: TrainConfig, inputs: ClipInputs, y, train_idx, val_idx, n_classes: int, directory,
                 strategy, seed: int) -> "Member":
        raise NotImplementedError

    @classmethod
    def for_test(cls, name: str, config: TrainConfig, fold_members: list, inputs: ClipInputs, y, n_classes: int,
                 run_dir) -> "Member":
        raise NotImplementedError

    @classmethod
    def load(cls, name: str, config: TrainConfig, run_dir, n_classes: int) -> "Member":
        raise NotImplementedError


def predict_proba(model, features: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Batch by batch through `predict_on_batch`: Keras's `predict` builds a tf.data pipeline on
    every call (about 70 ms on 2 cores), which a server answering one clip paid once per fold network."""
    if len(features) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.concatenate([np.asarray(model.predict_on_batch(features[start: start + batch_size]), dtype=np.float32)
                           for start in range(0, len(features), batch_size)])


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


@dataclasses.dataclass
class NetworkMember(Member):
    """The fold networks on log-Mels, averaged over `tta` rolled views of each clip. A fold trains
    its network (training.fold_network, saved as fold_<k>/model.keras); the test member is every
    fold's network."""

    models: list  # keras.Model, or export.TfliteNetwork in a model's place
    tta: int = 1
    name: str = NETWORK

    def predict(self, inputs: ClipInputs, rates=None) -> np.ndarray:
        return predict_ensemble(self.models, inputs.log_mels, self.tta)

    @classmethod
    def for_fold(cls, name, config, inputs, y, train_idx, val_idx, n_classes, directory, strategy, seed):
        from .training import fold_network  # TensorFlow: only where a network is trained

        x = inputs.log_mels
        return cls([fold_network(x[train_idx], y[train_idx], x[val_idx], y[val_idx], n_classes,
                                 dataclasses.replace(config, seed=seed), directory, strategy)], config.tta)

    @classmethod
    def for_test(cls, name, config, fold_members, inputs, y, n_classes, run_dir):
        return dataclasses.replace(fold_members[0], models=[model for member in fold_members for model in member.models])

    @classmethod
    def load(cls, name, config, run_dir, n_classes):
        from .training import load_fold_models

        return cls(load_fold_models(run_dir, config.folds), config.tta)


def _windows(inputs: ClipInputs, index=None) -> tuple:
    """(the clips' BirdNET windows as one row each, each row's clip): (clips, windows, ...) flattened."""
    windows = inputs.of(BirdNetWindows.name)
    windows = windows if index is None else windows[index]
    return windows.reshape(-1, *windows.shape[2:]), np.repeat(np.arange(len(windows)), windows.shape[1])


@dataclasses.dataclass
class BirdNetNetworkMember(NetworkMember):
    """The fold networks that fine-tune BirdNET's last segments (models/birdnet.py), reading what
    its frozen first segments computed of each window of a clip (embeddings.BirdNetWindows).
    Each window is a training example labelled with its clip's class, the windows of the fold's
    other recordings validate; a clip's probabilities are the mean over its windows (its
    test-time views) and over the fold networks."""

    def predict(self, inputs: ClipInputs, rates=None) -> np.ndarray:
        rows, clip = _windows(inputs)
        per_window = np.mean([predict_proba(model, rows) for model in self.models], axis=0)
        return per_window.reshape(len(inputs), -1, per_window.shape[-1]).mean(axis=1).astype(np.float32)

    @classmethod
    def for_fold(cls, name, config, inputs, y, train_idx, val_idx, n_classes, directory, strategy, seed):
        from .training import fold_network

        x_train, train_clip = _windows(inputs, train_idx)
        x_val, val_clip = _windows(inputs, val_idx)
        return cls([fold_network(x_train, y[train_idx][train_clip], x_val, y[val_idx][val_clip], n_classes,
                                 dataclasses.replace(config, seed=seed), directory, strategy)])


@dataclasses.dataclass
class ClassicalMember(Member):
    """One classical model (classical.py) by name. A fold fits its own on its training clips; the
    test member is refitted on every training clip (the folds' own fits give the validation
    figures): that costs seconds and matters with few recordings (on the honest benchmark the
    logistic regression scored 0.68 fitted on 80% of the clips and 0.72 on all of them). The
    clips recorded at a rate in `matched` are judged by that rate's model instead."""

    name: str
    model: object
    n_classes: int
    matched: dict = dataclasses.field(default_factory=dict)  # sample rate -> a model fitted at it

    @property
    def matches_bandwidth(self) -> bool:
        return self.name in CLASSICAL_MODELS  # on log-Mel statistics; an embedding is not matched

    def predict(self, inputs: ClipInputs, rates=None) -> np.ndarray:
        probabilities = predict_classical(self.name, self.model, inputs, self.n_classes)
        for rate, model in self.matched.items() if rates is not None else ():
            rows = np.flatnonzero(np.asarray(rates) == rate)
            if len(rows):
                probabilities[rows] = predict_classical(self.name, model, inputs.take(rows), self.n_classes)
        return probabilities

    @classmethod
    def for_fold(cls, name, config, inputs, y, train_idx, val_idx, n_classes, directory, strategy, seed):
        return cls(name, load_or_fit_classical(directory, name, inputs.take(train_idx), y[train_idx], seed), n_classes)

    @classmethod
    def for_test(cls, name, config, fold_members, inputs, y, n_classes, run_dir):
        return cls(name, load_or_fit_classical(os.path.join(run_dir, CLASSICAL_DIR), name, inputs, y, config.seed), n_classes)

    @classmethod
    def load(cls, name, config, run_dir, n_classes):
        return cls(name, load_classical(os.path.join(run_dir, CLASSICAL_DIR), name), n_classes)


def member_kinds(config: TrainConfig) -> list:
    """(name, kind) of every member of the recipe, in the blend's order (the network first)."""
    network = BirdNetNetworkMember if config.model == BIRDNET else NetworkMember
    return [(name, network if name == NETWORK else ClassicalMember) for name in config.members]


@dataclasses.dataclass
class Blend:
    """The members whose probabilities are averaged, each with its weight."""

    n_classes: int
    members: list

    @property
    def network(self) -> NetworkMember | None:
        return next((m for m in self.members if m.name == NETWORK), None)

    def matchable(self) -> list:
        """The members that clips recorded at a low rate get matched models of."""
        return [m for m in self.members if m.matches_bandwidth]

    def predict(self, inputs: ClipInputs, rates=None) -> dict:
        """Each member's probabilities by name, in the blend's order (the network first)."""
        return {member.name: member.predict(inputs, rates) for member in self.members}

    def average(self, probabilities: dict) -> np.ndarray:
        """The weighted mean of the members' probabilities (`probabilities` of some or all of them)."""
        weights = {m.name: m.weight for m in self.members}
        return average_members(probabilities, [weights.get(name, 1.0) for name in probabilities])


def average_members(members: dict, weights=None) -> np.ndarray:
    """The mean of the members' probabilities, weighted by `weights` (equal when None)."""
    return np.average(np.stack(list(members.values())), axis=0, weights=weights).astype(np.float32)


def blend_for_fold(config: TrainConfig, inputs: ClipInputs, y, train_idx, val_idx, n_classes: int, directory, strategy,
               seed: int) -> Blend:
    """A fold's blend: each member made for the fold (loaded where the fold saved it before)."""
    return Blend(n_classes, [kind.for_fold(name, config, inputs, y, train_idx, val_idx, n_classes, directory, strategy, seed)
                             for name, kind in member_kinds(config)])


def blend_for_test(config: TrainConfig, fold_blends: list, inputs: ClipInputs, y, n_classes: int, run_dir) -> Blend:
    """What predicts the test clips: each member made for the test from the folds' members."""
    return Blend(n_classes, [kind.for_test(name, config, [b.members[k] for b in fold_blends], inputs, y, n_classes, run_dir)
                             for k, (name, kind) in enumerate(member_kinds(config))])


def load_blend(run_dir, config: TrainConfig, n_classes: int) -> Blend:
    """What a finished run predicts the test clips with."""
    return Blend(n_classes, [kind.load(name, config, run_dir, n_classes) for name, kind in member_kinds(config)])
