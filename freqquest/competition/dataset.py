"""Scan the competition layout: classes, training files with labels and recording groups,
test IDs in sample_submission order; and a preflight check of all of it before training.

    <root>/train/train/<class>/*.wav
    <root>/test/test/*.wav
    <root>/sample_submission.csv      ID,Class
"""

import collections
import dataclasses
import hashlib
import logging
import os
import re

import numpy as np
import pandas as pd

from .audio import AudioLoadError, read_header
from .paths import AUDIO_EXTENSIONS, CompetitionError, is_competition_root

log = logging.getLogger(__name__)

# UrbanSound8K names: <freesound id>-<class id>-<occurrence>-<slice>; slices share a recording.
US8K_NAME = re.compile(r"^(\d+)-\d+-\d+-\d+$")
# Training files holding less audio than this are skipped: they hardly carry their class. The birdnet
# member fitted on full clips recognizes real clips cut to 0.01 / 0.05 / 0.1 / 0.25 s (looped to 4 s)
# at 0.28-0.32 / 0.35-0.44 / 0.39-0.46 / 0.62-0.65, against 0.84-0.89 whole (both directions of the
# shared folds; chance is 0.2; benchmarks/README.md).
MIN_TRAIN_SECONDS = 0.1
# Most sample_submission.csv IDs without a file means the IDs and the files name clips differently.
MAX_MISSING_TEST_SHARE = 0.5


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
    ignored_files: dict = dataclasses.field(default_factory=dict)  # path -> why it is not read (not an audio file name)

    def class_counts(self) -> dict:
        counts = collections.Counter(self.train_labels.tolist())
        return {name: counts.get(i, 0) for i, name in enumerate(self.classes)}


@dataclasses.dataclass
class PreflightReport:
    unreadable_train: dict  # path -> reason
    unreadable_test: dict  # test ID -> reason
    missing_test_files: list  # IDs in sample_submission.csv without a file
    short_train: dict = dataclasses.field(default_factory=dict)  # path -> note: too little audio to learn from, skipped
    train_notes: dict = dataclasses.field(default_factory=dict)  # path -> note (truncated), used all the same
    # test ID -> note (truncated, very short), predicted all the same
    test_notes: dict = dataclasses.field(default_factory=dict)
    duplicate_train: list = dataclasses.field(default_factory=list)  # groups of training files with identical content

    @property
    def clean(self) -> bool:
        return not (
            self.unreadable_train
            or self.unreadable_test
            or self.missing_test_files
            or self.short_train
            or self.train_notes
            or self.test_notes
            or self.duplicate_train
        )

    @property
    def skipped_train(self) -> dict:
        """The training files left out, with the reason: unreadable, or too short to learn from."""
        return self.unreadable_train | self.short_train

    def usable_train(self, paths: list, failed: dict | None = None) -> np.ndarray:
        """Indices of the training files to learn from: not skipped here, and not among `failed`
        (files whose audio did not decode when their features were extracted)."""
        left_out = self.skipped_train.keys() | (failed or {}).keys()
        return np.flatnonzero([p not in left_out for p in paths])

    def duplicate_copies(self) -> set:
        """Every duplicate but the first of its group: what a statistic over distinct clips leaves out."""
        return {path for group in self.duplicate_train for path in group[1:]}


def recording_id(relative_path: str) -> str:
    """Group key for leak-free splits: the recording for UrbanSound8K names, else the file."""
    stem = os.path.splitext(os.path.basename(relative_path))[0]
    match = US8K_NAME.match(stem)
    return match.group(1) if match else relative_path


def _list_files(directory) -> tuple[list, dict]:
    """(audio file names, sorted; {path: why it is ignored} for the other files). Hidden files are
    the file system's (.DS_Store), not the user's, and are passed over."""
    audio, ignored = [], {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        if name.lower().endswith(AUDIO_EXTENSIONS):
            audio.append(name)
        else:
            ignored[path] = f"not an audio file name (reads {', '.join(AUDIO_EXTENSIONS)})"
    return audio, ignored


def scan_competition(root) -> Competition:
    root = str(root)
    if not is_competition_root(root):
        raise CompetitionError(
            f"{root} is not a competition folder: expected {os.path.join(root, 'train', 'train')}/<class>/*.wav "
            f"and {os.path.join(root, 'test', 'test')}/*.wav"
        )
    classes, paths, labels, groups, ignored = _scan_train(os.path.join(root, "train", "train"))
    test_dir = os.path.join(root, "test", "test")
    test_files, passed_over = _list_files(test_dir)
    sample_path = os.path.join(root, "sample_submission.csv")
    has_sample = os.path.isfile(sample_path)
    if has_sample:
        test_ids = read_sample_submission(sample_path)["ID"].tolist()
    else:
        log.warning("%s not found: the submission will list the files of %s in sorted order", sample_path, test_dir)
        test_ids = list(test_files)
    files_of = _files_of_ids(test_ids, test_files)
    if has_sample:
        _check_ids_name_files(test_ids, files_of, test_files, sample_path, test_dir)
    used = set(files_of.values())
    return Competition(
        root=root,
        classes=classes,
        train_paths=paths,
        train_labels=np.array(labels, dtype=np.int64),
        train_groups=groups,
        test_ids=test_ids,
        test_paths=[os.path.join(test_dir, files_of[i]) if files_of[i] else None for i in test_ids],
        unlisted_test_files=[f for f in test_files if f not in used],
        has_sample_submission=has_sample,
        ignored_files=ignored | passed_over,
    )


def _scan_train(train_dir: str) -> tuple:
    """(classes, paths, labels, recording groups, ignored files) of the class folders under `train_dir`;
    a folder with no audio is said and skipped."""
    classes, paths, labels, groups, ignored = [], [], [], [], {}
    for name in sorted(os.listdir(train_dir)):
        class_dir = os.path.join(train_dir, name)
        if name.startswith(".") or not os.path.isdir(class_dir):
            continue
        files, passed_over = _list_files(class_dir)
        ignored |= passed_over
        if not files:
            log.warning(
                "class folder %s holds no audio files%s; ignoring it",
                class_dir,
                f" ({len(passed_over)} other file(s))" if passed_over else "",
            )
            continue
        label = len(classes)
        classes.append(name)
        for file in files:
            paths.append(os.path.join(class_dir, file))
            labels.append(label)
            groups.append(recording_id(f"{name}/{file}"))
    if len(classes) < 2:
        raise CompetitionError(f"{train_dir} needs at least two class folders with audio files, found {classes}")
    return classes, paths, labels, groups, ignored


def _check_ids_name_files(test_ids: list, files_of: dict, test_files: list, sample_path: str, test_dir: str) -> None:
    """CompetitionError when more than a few of the sample submission's IDs name no test file: the
    IDs are not the files' names, and every row would be a guess."""
    missing = [i for i in test_ids if files_of[i] is None]
    if test_ids and len(missing) > MAX_MISSING_TEST_SHARE * len(test_ids):
        example = f"e.g. the ID {missing[0]!r}, while {test_dir} holds " + (
            f"files such as {test_files[0]!r}" if test_files else "no audio files"
        )
        raise CompetitionError(
            f"{len(missing)} of the {len(test_ids)} IDs of {sample_path} name no file in {test_dir} "
            f"({example}): the IDs must be the test files' names"
        )


def _files_of_ids(test_ids: list, test_files: list) -> dict:
    """ID -> the test file it names: the file of that name, else the one audio file whose name is the
    ID plus an extension (IDs written without '.wav'), else None."""
    on_disk = set(test_files)
    by_stem = collections.defaultdict(list)
    for name in test_files:
        by_stem[os.path.splitext(name)[0]].append(name)
    return {i: i if i in on_disk else by_stem[i][0] if len(by_stem.get(i, ())) == 1 else None for i in test_ids}


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
    """Read every header before any training, so broken files surface in seconds, not hours:
    unreadable, truncated and very short files, and training files with identical content."""
    report = PreflightReport({}, {}, [i for i, p in zip(competition.test_ids, competition.test_paths) if p is None])
    for path in competition.train_paths:
        try:
            header = read_header(path)
        except AudioLoadError as error:
            report.unreadable_train[path] = error.reason
            continue
        if header.seconds < MIN_TRAIN_SECONDS:
            report.short_train[path] = (
                f"only {header.seconds:.3f} s of audio, below the {MIN_TRAIN_SECONDS} s a training clip needs"
            )
        elif header.note():
            report.train_notes[path] = header.note()
    for ident, path in zip(competition.test_ids, competition.test_paths):
        if path is None:
            continue
        try:
            header = read_header(path)
        except AudioLoadError as error:
            report.unreadable_test[ident] = error.reason
            continue
        note = header.note() or (
            f"only {header.seconds:.3f} s of audio, looped to fill the clip: a guess"
            if header.seconds < MIN_TRAIN_SECONDS
            else None
        )
        if note:
            report.test_notes[ident] = note
    report.duplicate_train = identical_files([p for p in competition.train_paths if p not in report.unreadable_train])
    return report


def identical_files(paths: list) -> list:
    """Groups (in `paths` order) of two or more files with the same bytes."""
    by_size = collections.defaultdict(list)
    for path in paths:
        by_size[os.path.getsize(path)].append(path)
    by_digest = collections.defaultdict(list)
    for same_size in (group for group in by_size.values() if len(group) > 1):
        for path in same_size:
            with open(path, "rb") as f:
                by_digest[hashlib.sha1(f.read()).hexdigest()].append(path)
    return sorted((group for group in by_digest.values() if len(group) > 1), key=lambda g: paths.index(g[0]))


def check_trainable(competition: Competition, report: PreflightReport, n_splits: int) -> None:
    """What training needs of the data, checked before any work: every class at least 2 usable
    training files, and at least `n_splits` recordings for the folds (or the validation split)."""
    usable = [p not in report.skipped_train for p in competition.train_paths]
    counts = collections.Counter(label for label, ok in zip(competition.train_labels.tolist(), usable) if ok)
    thin = [f"{name} ({counts.get(k, 0)})" for k, name in enumerate(competition.classes) if counts.get(k, 0) < 2]
    if thin:
        raise CompetitionError(
            f"every class needs at least 2 usable training files to be learned and validated; "
            f"these have fewer: {', '.join(thin)}"
        )
    recordings = {g for g, ok in zip(competition.train_groups, usable) if ok}
    if len(recordings) < n_splits:
        raise CompetitionError(
            f"the recipe splits the training clips {n_splits} ways by recording, but they come from "
            f"{len(recordings)} recordings: use fewer --folds (or a larger --val-fraction)"
        )
    for k, name in enumerate(competition.classes):
        own = {
            g for g, label, ok in zip(competition.train_groups, competition.train_labels, usable) if ok and label == k
        }
        if len(own) == 1:
            log.warning(
                "class %s comes from a single recording: the clips that validate it are judged by models that "
                "never heard the class",
                name,
            )


def describe(competition: Competition, report: PreflightReport) -> str:
    counts = competition.class_counts()
    width = max(len(c) for c in counts)
    lines = [
        f"competition: {competition.root}",
        f"train: {len(competition.train_paths)} files in {len(counts)} classes",
    ]
    lines += [f"  {name:<{width}}  {n}" for name, n in counts.items()]
    lines.append(f"test: {len(competition.test_ids)} IDs")
    for path, reason in report.unreadable_train.items():
        lines.append(f"  unreadable train file, skipped: {path}: {reason}")
    for path, note in report.short_train.items():
        lines.append(f"  train file too short, skipped: {path}: {note}")
    for path, note in report.train_notes.items():
        lines.append(f"  train file used as it is: {path}: {note}")
    for group in report.duplicate_train:
        lines.append(f"  train files with identical content: {' = '.join(group)}")
    for ident, reason in report.unreadable_test.items():
        lines.append(f"  unreadable test file, gets the fallback class: {ident}: {reason}")
    for ident, note in report.test_notes.items():
        lines.append(f"  test file predicted as it is: {ident}: {note}")
    for ident in report.missing_test_files:
        lines.append(f"  in sample_submission.csv but not in test/test, gets the fallback class: {ident}")
    for name in competition.unlisted_test_files:
        lines.append(f"  in test/test but not in sample_submission.csv, not predicted: {name}")
    for path, reason in competition.ignored_files.items():
        lines.append(f"  not read: {path}: {reason}")
    return "\n".join(lines)
