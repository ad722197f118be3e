"""Scan the competition layout: classes, training files with labels and recording groups,
test IDs in sample_submission order; and a preflight check of all of it before training.

    <root>/train/train/<class>/*.wav
    <root>/test/test/*.wav
    <root>/sample_submission.csv      ID,Class
"""
import collections
import dataclasses
import logging
import os
import re

import numpy as np
import pandas as pd

from .audio import probe

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
# UrbanSound8K names: <freesound id>-<class id>-<occurrence>-<slice>; slices share a recording.
US8K_NAME = re.compile(r"^(\d+)-\d+-\d+-\d+$")


class CompetitionError(Exception):
    """The competition folder is not usable as it is; the message says what to fix."""


@dataclasses.dataclass
class Competition:
    root: str
    classes: list
    train_paths: list
    train_labels: np.ndarray
    train_groups: list
    test_ids: list  # sample_submission.csv order
    test_paths: list  # None where an ID has no file in test/test
    unlisted_test_files: list  # in test/test but not in sample_submission.csv
    has_sample_submission: bool

    def class_counts(self) -> dict:
        counts = collections.Counter(self.train_labels.tolist())
        return {name: counts.get(i, 0) for i, name in enumerate(self.classes)}


@dataclasses.dataclass
class PreflightReport:
    unreadable_train: dict  # path -> reason
    unreadable_test: dict  # test ID -> reason
    missing_test_files: list  # IDs in sample_submission.csv without a file

    @property
    def clean(self) -> bool:
        return not (self.unreadable_train or self.unreadable_test or self.missing_test_files)


def recording_id(relative_path: str) -> str:
    """Group key for leak-free splits: the recording for UrbanSound8K names, else the file."""
    stem = os.path.splitext(os.path.basename(relative_path))[0]
    match = US8K_NAME.match(stem)
    return match.group(1) if match else relative_path


def is_competition_root(path) -> bool:
    return os.path.isdir(os.path.join(path, "train", "train")) and os.path.isdir(os.path.join(path, "test", "test"))


def _audio_files(directory) -> list:
    return sorted(
        name
        for name in os.listdir(directory)
        if not name.startswith(".") and name.lower().endswith(AUDIO_EXTENSIONS)
        and os.path.isfile(os.path.join(directory, name))
    )


def scan_competition(root) -> Competition:
    root = str(root)
    if not is_competition_root(root):
        raise CompetitionError(
            f"{root} is not a competition folder: expected {os.path.join(root, 'train', 'train')}/<class>/*.wav "
            f"and {os.path.join(root, 'test', 'test')}/*.wav"
        )
    train_dir = os.path.join(root, "train", "train")
    classes, paths, labels, groups = [], [], [], []
    for name in sorted(os.listdir(train_dir)):
        class_dir = os.path.join(train_dir, name)
        if name.startswith(".") or not os.path.isdir(class_dir):
            continue
        files = _audio_files(class_dir)
        if not files:
            log.warning("class folder %s holds no audio files; ignoring it", class_dir)
            continue
        label = len(classes)
        classes.append(name)
        for file in files:
            paths.append(os.path.join(class_dir, file))
            labels.append(label)
            groups.append(recording_id(f"{name}/{file}"))
    if len(classes) < 2:
        raise CompetitionError(f"{train_dir} needs at least two class folders with audio files, found {classes}")

    test_dir = os.path.join(root, "test", "test")
    test_files = _audio_files(test_dir)
    sample_path = os.path.join(root, "sample_submission.csv")
    has_sample = os.path.isfile(sample_path)
    if has_sample:
        sample = read_sample_submission(sample_path)
        test_ids = sample["ID"].tolist()
    else:
        log.warning("%s not found: the submission will list the files of %s in sorted order", sample_path, test_dir)
        test_ids = list(test_files)
    on_disk = set(test_files)
    test_paths = [os.path.join(test_dir, i) if i in on_disk else None for i in test_ids]
    listed = set(test_ids)
    return Competition(
        root=root,
        classes=classes,
        train_paths=paths,
        train_labels=np.array(labels, dtype=np.int64),
        train_groups=groups,
        test_ids=test_ids,
        test_paths=test_paths,
        unlisted_test_files=[f for f in test_files if f not in listed],
        has_sample_submission=has_sample,
    )


def read_sample_submission(path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as error:
        raise CompetitionError(f"{path}: cannot be read as CSV ({error})") from None
    if list(frame.columns[:1]) != ["ID"]:
        raise CompetitionError(f"{path}: the first column must be 'ID', found {list(frame.columns)}")
    duplicated = frame["ID"][frame["ID"].duplicated()].tolist()
    if duplicated:
        raise CompetitionError(f"{path}: IDs listed twice: {duplicated[:5]}")
    return frame


def preflight(competition: Competition) -> PreflightReport:
    """Read every header before any training, so broken files surface in seconds, not hours."""
    unreadable_train = {p: r for p in competition.train_paths if (r := probe(p))}
    unreadable_test = {
        i: r for i, p in zip(competition.test_ids, competition.test_paths) if p is not None and (r := probe(p))
    }
    missing = [i for i, p in zip(competition.test_ids, competition.test_paths) if p is None]
    return PreflightReport(unreadable_train, unreadable_test, missing)


def describe(competition: Competition, report: PreflightReport) -> str:
    counts = competition.class_counts()
    width = max(len(c) for c in counts)
    lines = [f"competition: {competition.root}", f"train: {len(competition.train_paths)} files in {len(counts)} classes"]
    lines += [f"  {name:<{width}}  {n}" for name, n in counts.items()]
    lines.append(f"test: {len(competition.test_ids)} IDs")
    for path, reason in report.unreadable_train.items():
        lines.append(f"  unreadable train file, skipped: {path}: {reason}")
    for ident, reason in report.unreadable_test.items():
        lines.append(f"  unreadable test file, gets the fallback class: {ident}: {reason}")
    for ident in report.missing_test_files:
        lines.append(f"  in sample_submission.csv but not in test/test, gets the fallback class: {ident}")
    for name in competition.unlisted_test_files:
        lines.append(f"  in test/test but not in sample_submission.csv, not predicted: {name}")
    return "\n".join(lines)
