"""Validation splits that do not leak: every clip of one recording lands on one side."""

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold


def _splitter(n_splits: int, groups, seed: int, what: str) -> StratifiedGroupKFold:
    n_groups = len(set(groups))
    if n_groups < n_splits:
        raise ValueError(f"{what} needs at least {n_splits} recordings, found {n_groups}")
    return StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)


def n_splits(folds: int, val_fraction: float) -> int:
    """How many ways the clips are split by recording: the folds, or for one split the folds
    whose first holds about val_fraction of them."""
    return folds if folds > 1 else max(2, int(round(1.0 / val_fraction)))


def group_split(labels, groups, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, group-aware train/validation indices; validation is about val_fraction of the clips."""
    labels = np.asarray(labels)
    splitter = _splitter(n_splits(1, val_fraction), groups, seed, f"a validation fraction of {val_fraction}")
    train_idx, val_idx = next(splitter.split(np.zeros(len(labels)), labels, groups))
    return np.sort(train_idx), np.sort(val_idx)


def fold_splits(labels, groups, folds: int, val_fraction: float, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`folds` stratified group folds (each clip validated exactly once); a single
    `group_split` with val_fraction when folds is 1."""
    if folds == 1:
        return [group_split(labels, groups, val_fraction, seed)]
    labels = np.asarray(labels)
    splits = _splitter(folds, groups, seed, f"--folds {folds}").split(np.zeros(len(labels)), labels, groups)
    return [(np.sort(t), np.sort(v)) for t, v in splits]
