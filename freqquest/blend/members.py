"""The members of the blend, each one shape: what it reads of a set of clips (features.inputs.ClipInputs),
how it is fitted on a fold's training clips and then for the test, how it predicts class
probabilities, and where it is saved and loaded from. The blend is a list of members with their
weights; a new kind of member is one class here, not a branch in every caller.

- `NetworkMember`: the fold networks on log-Mels (cnn, resnet, efficientnetv2b0). A fold trains
  its own network; the test member is every fold's network, over `tta` views.
- `BirdNetNetworkMember`: the same for the network that fine-tunes BirdNET, on BirdNET's windows.
- `ClassicalMember`: a logistic regression or SVM on log-Mel statistics. A fold fits its own; the
  test member is refitted on every training clip. Clips recorded at a low sample rate can be
  judged by models fitted at it (bandwidth.py).
- `EmbeddingMember`: a logistic regression on a pretrained embedding, fitted like a classical one.
"""

import dataclasses
import logging
import os

import numpy as np

from ..competition.splits import fold_splits
from ..config import LOG_MEL_MODELS, NETWORK, TrainConfig
from ..features.embeddings import BirdNetWindows, get_embedder
from ..features.inputs import ClipInputs
from ..runs import FOLD_DONE, classical_dir, fold_dir
from .classical import (
    ModelFolder,
    build_classical,
    embedding_classifier,
    load_classical,
    predict_probabilities,
)

log = logging.getLogger(__name__)


class Member:
    """What the blend asks of every member. A kind of member says what it reads beyond the
    log-Mels (`reads`), how it is made for a fold (`for_fold`: fitted on the fold's training clips,
    validated on its other clips), for the test (`for_test`: from the folds' members and every
    training clip), and how a finished run's test member is loaded (`load`); the instances predict."""

    name: str  # its name among the blend's members: NETWORK, or the classical model's
    label: str  # its name for a person
    weight: float = 1.0
    matches_bandwidth = False  # whether clips recorded at a low rate get models matched to it (bandwidth.py)

    @staticmethod
    def reads(name: str, config: TrainConfig, threads: int = 1) -> dict:
        """The pretrained models' features it reads, by name (embeddings.Embedder)."""
        return {}

    def predict(self, inputs: ClipInputs, rates=None) -> np.ndarray:
        """(clips, classes) float32 probabilities; `rates`: each clip's native sample rate."""
        raise NotImplementedError

    @classmethod
    def for_fold(
        cls,
        name: str,
        config: TrainConfig,
        inputs: ClipInputs,
        y,
        train_idx,
        val_idx,
        n_classes: int,
        models,
        strategy,
        seed: int,
    ) -> "Member":
        """`models`: the fold's classical.ModelFolder (a network is trained into its directory), or
        classical.IN_MEMORY for a fold nothing is kept of."""
        raise NotImplementedError

    @classmethod
    def for_test(
        cls, name: str, config: TrainConfig, fold_members: list, inputs: ClipInputs, y, n_classes: int, run_dir
    ) -> "Member":
        raise NotImplementedError

    @classmethod
    def load(cls, name: str, config: TrainConfig, run_dir, n_classes: int) -> "Member":
        raise NotImplementedError

    @staticmethod
    def saved_in(name: str, directory) -> bool:
        """Whether a fold made it in `directory` before (a resumed run loads it)."""
        raise NotImplementedError

    def refitted(self, inputs: ClipInputs, y, seed: int) -> "Member":
        """The member fitted again on `inputs` (pseudo-labelled test clips among them), kept in memory;
        a member that is not refitted cheaply (a network) stays as it is."""
        return self


def predict_proba(model, features: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Batch by batch through `predict_on_batch`: Keras's `predict` builds a tf.data pipeline on
    every call (about 70 ms on 2 cores), which a server answering one clip paid once per fold network."""
    if len(features) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.concatenate(
        [
            np.asarray(model.predict_on_batch(features[start : start + batch_size]), dtype=np.float32)
            for start in range(0, len(features), batch_size)
        ]
    )


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
    its network (models.training.fold_network, saved as fold_<k>/model.keras); the test member is
    every fold's network."""

    models: list  # keras.Model, or serving.export.TfliteNetwork in a model's place
    tta: int = 1
    label: str = NETWORK
    name: str = NETWORK

    def predict(self, inputs: ClipInputs, rates=None) -> np.ndarray:
        return predict_ensemble(self.models, inputs.log_mels, self.tta)

    @staticmethod
    def network_inputs(inputs: ClipInputs) -> np.ndarray:
        """What the networks read of the clips, one row per example."""
        return inputs.log_mels

    @staticmethod
    def saved_in(name, directory):
        return os.path.isfile(os.path.join(directory, FOLD_DONE))

    @classmethod
    def for_fold(cls, name, config, inputs, y, train_idx, val_idx, n_classes, models, strategy, seed):
        from ..models.training import fold_network  # TensorFlow: only where a network is trained

        x = inputs.log_mels
        model = fold_network(
            x[train_idx],
            y[train_idx],
            x[val_idx],
            y[val_idx],
            n_classes,
            dataclasses.replace(config, seed=seed),
            models.directory,
            strategy,
        )
        return cls([model], config.tta, config.model)

    @classmethod
    def for_test(cls, name, config, fold_members, inputs, y, n_classes, run_dir):
        return dataclasses.replace(
            fold_members[0], models=[model for member in fold_members for model in member.models]
        )

    @classmethod
    def load(cls, name, config, run_dir, n_classes):
        from ..models.training import load_fold_models  # TensorFlow: only where a network is loaded

        return cls(load_fold_models(run_dir, config.folds), config.tta, config.model)


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

    @staticmethod
    def reads(name, config, threads=1):
        return {BirdNetWindows.name: BirdNetWindows(config.tune_from, threads)}

    def predict(self, inputs, rates=None):
        rows, _ = _windows(inputs)
        per_window = np.mean([predict_proba(model, rows) for model in self.models], axis=0)
        return per_window.reshape(len(inputs), -1, per_window.shape[-1]).mean(axis=1).astype(np.float32)

    @staticmethod
    def network_inputs(inputs):
        return _windows(inputs)[0]

    @classmethod
    def for_fold(cls, name, config, inputs, y, train_idx, val_idx, n_classes, models, strategy, seed):
        from ..models.training import fold_network  # TensorFlow: only where a network is trained

        x_train, train_clip = _windows(inputs, train_idx)
        x_val, val_clip = _windows(inputs, val_idx)
        model = fold_network(
            x_train,
            y[train_idx][train_clip],
            x_val,
            y[val_idx][val_clip],
            n_classes,
            dataclasses.replace(config, seed=seed),
            models.directory,
            strategy,
        )
        return cls([model], label=f"{config.model}-finetuned")

    @classmethod
    def load(cls, name, config, run_dir, n_classes):
        from ..models.training import load_fold_models  # TensorFlow: only where a network is loaded

        return cls(load_fold_models(run_dir, config.folds), label=f"{config.model}-finetuned")


@dataclasses.dataclass
class ClassicalMember(Member):
    """One classical model on log-Mel statistics (classical.py), by name. A fold fits its own on
    its training clips; the test member is refitted on every training clip (the folds' own fits
    give the validation figures): that costs seconds and matters with few recordings (on the honest
    benchmark the logistic regression scored 0.68 fitted on 80% of the clips and 0.72 on all of
    them). The clips recorded at a rate in `matched` are judged by that rate's model instead."""

    name: str
    model: object
    n_classes: int
    matched: dict = dataclasses.field(default_factory=dict)  # sample rate -> a model fitted at it
    matches_bandwidth = True

    @property
    def label(self) -> str:
        return self.name

    @staticmethod
    def rows(inputs: ClipInputs) -> np.ndarray:
        """What it is fitted on and predicts from."""
        return inputs.statistics

    @staticmethod
    def saved_in(name, directory):
        return ModelFolder(directory, save=False).holds([name])

    @classmethod
    def fitted(cls, name: str, models, inputs: ClipInputs, y, seed: int):
        """Its model as `models` (a classical.ModelFolder, or IN_MEMORY) holds it, or one fitted on `inputs`."""
        return models.load_or_fit(name, lambda: cls.fit(name, inputs, y, seed))

    @classmethod
    def fit(cls, name: str, inputs: ClipInputs, y, seed: int):
        return cls.classifier(name, y, seed).fit(cls.rows(inputs), y)

    def refitted(self, inputs, y, seed):
        return dataclasses.replace(self, model=self.fit(self.name, inputs, y, seed))

    @staticmethod
    def classifier(name: str, y, seed: int):
        return build_classical(name, np.asarray(y), seed)

    def predict(self, inputs, rates=None):
        probabilities = predict_probabilities(self.model, self.rows(inputs), self.n_classes)
        for rate, model in self.matched.items() if rates is not None else ():
            rows = np.flatnonzero(np.asarray(rates) == rate)
            if len(rows):
                probabilities[rows] = predict_probabilities(model, self.rows(inputs.take(rows)), self.n_classes)
        return probabilities

    @classmethod
    def for_fold(cls, name, config, inputs, y, train_idx, val_idx, n_classes, models, strategy, seed):
        return cls(name, cls.fitted(name, models, inputs.take(train_idx), y[train_idx], seed), n_classes)

    @classmethod
    def for_test(cls, name, config, fold_members, inputs, y, n_classes, run_dir):
        return cls(name, cls.fitted(name, ModelFolder(classical_dir(run_dir)), inputs, y, config.seed), n_classes)

    @classmethod
    def load(cls, name, config, run_dir, n_classes):
        return cls(name, load_classical(classical_dir(run_dir), name), n_classes)


@dataclasses.dataclass
class EmbeddingMember(ClassicalMember):
    """A logistic regression on the pretrained embedding it is named after (classical.embedding_classifier).
    Not matched to low sample rates: matched, the birdnet member scored what it scores unmatched
    in both directions of the shared folds (bandwidth.py)."""

    matches_bandwidth = False

    @property
    def label(self) -> str:
        return f"{self.name}-embedding"

    @staticmethod
    def reads(name, config, threads=1):
        return {name: get_embedder(name, threads)}

    @classmethod
    def fit(cls, name, inputs, y, seed):
        return embedding_classifier().fit(inputs.of(name), y)

    def predict(self, inputs, rates=None):
        return predict_probabilities(self.model, inputs.of(self.name), self.n_classes)


def member_kinds(config: TrainConfig) -> list:
    """(name, kind) of every member of the recipe, in the blend's order (the network first)."""
    network = NetworkMember if config.model in LOG_MEL_MODELS else BirdNetNetworkMember
    kinds = [(NETWORK, network)] if config.trains_network else []
    kinds += [(name, ClassicalMember) for name in config.classical_models]
    return kinds + [(name, EmbeddingMember) for name in config.embedding_models]


def recipe_embedders(config: TrainConfig, threads: int = 1) -> dict:
    """What the recipe's members read of pretrained models, by name (embeddings.Embedder)."""
    return {
        key: embedder
        for name, kind in member_kinds(config)
        for key, embedder in kind.reads(name, config, threads).items()
    }


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

    def refitted(self, inputs: ClipInputs, y, seed: int) -> "Blend":
        """The blend with each member that refits cheaply fitted again on `inputs` (members.refitted)."""
        return Blend(self.n_classes, [member.refitted(inputs, y, seed) for member in self.members])


def average_members(members: dict, weights=None) -> np.ndarray:
    """The mean of the members' probabilities, weighted by `weights` (equal when None)."""
    return np.average(np.stack(list(members.values())), axis=0, weights=weights).astype(np.float32)


def blend_for_fold(
    config: TrainConfig, inputs: ClipInputs, y, train_idx, val_idx, n_classes: int, models, strategy, seed: int
) -> Blend:
    """A fold's blend: each member made for the fold (loaded where `models`, the fold's
    classical.ModelFolder or IN_MEMORY, holds it from before)."""
    members = [
        kind.for_fold(name, config, inputs, y, train_idx, val_idx, n_classes, models, strategy, seed)
        for name, kind in member_kinds(config)
    ]
    return Blend(n_classes, members)


def train_folds(inputs: ClipInputs, y, groups, n_classes: int, config: TrainConfig, run_dir, strategy=None):
    """The members of the recipe made for each fold of `fold_splits` in run_dir/fold_<k> (a
    network trained, classical models fitted on the fold's training clips). Yields (fold, the
    fold's Blend, train_idx, val_idx). What a fold finished before is loaded, not made again (a
    network whose folder has FOLD_DONE, a saved classical model), so an interrupted K-fold run
    resumes at the fold it was in."""
    for fold, (train_idx, val_idx) in enumerate(fold_splits(y, groups, config.folds, config.val_fraction, config.seed)):
        directory = fold_dir(run_dir, fold)
        if all(kind.saved_in(name, directory) for name, kind in member_kinds(config)):
            log.info("fold %d/%d: finished before, its members loaded from %s", fold + 1, config.folds, directory)
        else:
            log.info(
                "fold %d/%d: %d training clips, %d validation clips of other recordings",
                fold + 1,
                config.folds,
                len(train_idx),
                len(val_idx),
            )
        blend = blend_for_fold(
            config, inputs, y, train_idx, val_idx, n_classes, ModelFolder(directory), strategy, config.seed + fold
        )
        yield fold, blend, train_idx, val_idx


def blend_for_test(config: TrainConfig, fold_blends: list, inputs: ClipInputs, y, n_classes: int, run_dir) -> Blend:
    """What predicts the test clips: each member made for the test from the folds' members."""
    members = [
        kind.for_test(name, config, [b.members[k] for b in fold_blends], inputs, y, n_classes, run_dir)
        for k, (name, kind) in enumerate(member_kinds(config))
    ]
    return Blend(n_classes, members)


def load_blend(run_dir, config: TrainConfig, n_classes: int) -> Blend:
    """What a finished run predicts the test clips with."""
    return Blend(n_classes, [kind.load(name, config, run_dir, n_classes) for name, kind in member_kinds(config)])
