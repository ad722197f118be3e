"""Write submission.csv only after checking it against what the leaderboard will check."""

import pandas as pd

from ..io import atomic_path

HEADER = ["ID", "Class"]


class SubmissionError(ValueError):
    pass


def make_submission(ids: list, class_names: list) -> pd.DataFrame:
    return pd.DataFrame({"ID": list(ids), "Class": list(class_names)}, columns=HEADER)


def to_class_names(probabilities, classes: list, usable, fallback: str) -> list:
    """The most probable class per row; `fallback` where the row's clip could not be read."""
    best = probabilities.argmax(axis=1)
    return [classes[b] if ok else fallback for b, ok in zip(best, usable)]


def validate_submission(frame: pd.DataFrame, expected_ids: list, classes: list) -> None:
    """Header ID,Class; every expected ID exactly once, in the expected order; known classes only."""
    if list(frame.columns) != HEADER:
        raise SubmissionError(f"columns must be {HEADER}, got {list(frame.columns)}")
    ids = frame["ID"].tolist()
    duplicated = sorted(set(frame["ID"][frame["ID"].duplicated()]))
    if duplicated:
        raise SubmissionError(f"{len(duplicated)} IDs appear more than once, e.g. {duplicated[:3]}")
    present, expected = set(ids), set(expected_ids)
    missing = [i for i in expected_ids if i not in present]
    unknown = [i for i in ids if i not in expected]
    if missing or unknown:
        raise SubmissionError(
            f"{len(missing)} expected IDs missing (e.g. {missing[:3]}), {len(unknown)} unknown IDs (e.g. {unknown[:3]})"
        )
    if ids != list(expected_ids):
        raise SubmissionError("rows are not in the order of sample_submission.csv")
    known = set(classes)
    bad = sorted({c for c in frame["Class"] if c not in known}, key=str)
    if bad:
        raise SubmissionError(f"unknown class names {bad[:5]}; expected one of {list(classes)}")


def write_submission(frame: pd.DataFrame, path, expected_ids: list, classes: list) -> None:
    validate_submission(frame, expected_ids, classes)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
