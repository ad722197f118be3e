"""Validation splits that do not leak: every clip of one recording lands on one side."""
import numpy as np
from sklearn.model_selection import StratifiedGroupKFold


def group_split(labels, groups, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, group-aware train/validation indices; validation is about val_fraction of the clips."""
    labels = np.asarray(labels)
    n_splits = max(2, int(round(1.0 / val_fraction)))
    n_groups = len(set(groups))
    if n_groups < n_splits:
        raise ValueError(
            f"a validation fraction of {val_fraction} needs at least {n_splits} recordings, found {n_groups}"
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train_idx, val_idx = next(splitter.split(np.zeros(len(labels)), labels, groups))
    return np.sort(train_idx), np.sort(val_idx)
