"""The classification run, step by step: find the data, check it, extract features, split,
train, evaluate, predict, write the submission. The script and the notebooks call this."""
import dataclasses
import logging
import os
import time

import numpy as np
import pandas as pd

from . import paths
from .bandwidth import match_bandwidth, native_rates, readable_rates
from .config import AudioConfig, TrainConfig, read_run_config, write_run_config
from .dataset import Competition, CompetitionError, check_trainable, describe, is_competition_root, preflight, scan_competition
from .demo import build_demo, is_demo
from .embeddings import recipe_embedders
from .features import FeatureStore
from .inputs import extract_clip_set
from .members import Blend, blend_for_test, load_blend
from .io import atomic_path, check_file_writable, check_folder_writable, os_error_line
from .models.efficientnet import weights_file
from .recordings import KnownRecordings, recording_fingerprints, vote_by_recording
from .runs import RunInterrupted, SubmissionUnwritten, claim_run_folder, require_complete, write_summary
from .splits import n_splits
from .reports import evaluate, plot_history, write_evaluation
from .submission import make_submission, to_class_names, write_submission
from .training import HISTORY, describe_strategy, fold_dir, select_strategy, train_folds

log = logging.getLogger(__name__)

VALIDATION_PREDICTIONS = "validation_predictions.csv"
TEST_PROBABILITIES = "test_probabilities.csv"

DEMO_BANNER = """
==========================================================================================
  DEMO RUN ON SYNTHETIC AUDIO: no competition data was found{where}.
  The demo competition in {root} is made of synthetic sounds; its accuracy says
  nothing about real recordings. Its submission is written as demo_submission.csv.
  {hint}
==========================================================================================
"""


@dataclasses.dataclass
class ClassificationOptions:
    data: str | None = None
    demo: bool = False
    out: str | None = None
    run_dir: str | None = None
    cache_dir: str | None = None
    workers: int | None = None
    embedding_threads: int = 1
    predict_only: bool = False
    model_path: str | None = None
    resume: str | None = None
    overwrite: bool = False  # a --run-dir that holds a run is cleared first, not refused
    audio: AudioConfig = dataclasses.field(default_factory=AudioConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


@dataclasses.dataclass
class RunResult:
    run_dir: str
    submission_path: str
    demo: bool
    val_accuracy: float | None
    fallback_class: str  # what a test ID without a usable clip gets
    skipped_train: dict  # path -> why it was left out (unreadable, too short)
    unreadable_test: dict
    missing_test: list
    test_notes: dict = dataclasses.field(default_factory=dict)  # test ID -> what to know of its clip, predicted all the same
    fold_accuracies: list = dataclasses.field(default_factory=list)
    member_accuracies: dict = dataclasses.field(default_factory=dict)  # validation accuracy of each blended member
    accuracy_before_vote: float | None = None  # the blend's validation accuracy without the recording vote


def locate_competition(data=None, demo=False) -> tuple[str, bool]:
    """(root, is_demo): the given folder, else the first one found, else the demo (built once)."""
    if demo:
        return build_demo(paths.default_demo_dir()), True
    if data:
        if not is_competition_root(data):
            raise CompetitionError(
                f"{data} does not have the competition layout (train/train/<class>/*.wav, test/test/*.wav, "
                f"sample_submission.csv); {paths.DOWNLOAD_HINT}"
            )
        return data, is_demo(data)
    found = paths.find_competition_root()
    if found:
        return found, False
    root = build_demo(paths.default_demo_dir())
    where = " in " + ", ".join(b for b in paths.search_bases())
    log.warning(DEMO_BANNER.format(where=where, root=root, hint=paths.DOWNLOAD_HINT))
    return root, True


RESUME_COMMAND = "python Audio_Classification_Kaggle.py --resume {run_dir}"


def run_classification(options: ClassificationOptions) -> RunResult:
    """Everything is checked before any work: the data (preflight), the outputs, the recipe
    against the data, the models it needs; then the run folder is claimed and the run goes."""
    started = time.time()
    if options.resume:
        saved = read_run_config(options.resume)
        options = dataclasses.replace(
            options, data=options.data or saved["data"], run_dir=options.resume, audio=saved["audio"], train=saved["train"]
        )
        log.info("resuming %s", options.resume)
    if options.predict_only:
        if not options.model_path:
            raise ValueError("--predict-only needs --model-path RUN_DIR (a finished run folder with config.json and fold_*/model.keras)")
        require_complete(options.model_path, RESUME_COMMAND.format(run_dir=options.model_path))
        options = dataclasses.replace(options, audio=read_run_config(options.model_path)["audio"])

    root, demo = locate_competition(options.data, options.demo)
    competition = scan_competition(root)
    report = preflight(competition)
    log.info(describe(competition, report))
    out = options.out or paths.default_submission_path(demo)
    check_file_writable(out, "--out")
    store = FeatureStore(options.audio, options.cache_dir or paths.default_cache_dir(), options.workers, options.embedding_threads)
    check_folder_writable(store.cache_dir, "--cache-dir")

    if options.predict_only:
        return _predict_only(options, competition, report, out, store, demo)

    config = options.train
    check_trainable(competition, report, n_splits(config.folds, config.val_fraction))
    if config.weights:
        log.info("%s starts from the weights in %s", config.model, weights_file(config.weights))
    licences = check_pretrained(config)
    run_dir = options.run_dir or paths.default_run_dir("+".join(config.member_names))
    if options.resume:
        check_folder_writable(run_dir, "--resume")
    else:
        check_folder_writable(run_dir, "--run-dir")
        claim_run_folder(run_dir, options.overwrite)
    for licence in licences:
        log.warning("licence: %s", licence)
    try:
        return _train_and_predict(options, competition, report, root, demo, out, store, run_dir, started)
    except SubmissionUnwritten:
        raise
    except KeyboardInterrupt:
        raise RunInterrupted(run_dir, f"{run_dir} holds the finished folds and epochs, the feature cache what it "
                             f"extracted; continue with: {RESUME_COMMAND.format(run_dir=run_dir)}") from None
    except Exception:
        log.error("%s is incomplete: once the cause below is fixed, %s continues it", run_dir,
                  RESUME_COMMAND.format(run_dir=run_dir))
        raise


def _train_and_predict(options: ClassificationOptions, competition: Competition, report, root: str, demo: bool, out: str,
                       store: FeatureStore, run_dir: str, started: float) -> RunResult:
    timings = {}
    t = time.time()
    store, embedders = _with_embedders(store, options.train)
    train_set = extract_clip_set(store, competition.train_paths, embedders, "train")
    test_set = _test_clips(competition, store, embedders)
    timings["features_s"] = time.time() - t
    log.info("features of the train clips: %s; of the test clips: %s (%s)", train_set.describe_counts(),
             test_set.describe_counts(), store.cache_dir)
    unreadable_train = report.unreadable_train | train_set.failed
    unreadable_test = report.unreadable_test | failed_test_ids(competition, test_set)
    for found, in_preflight in ((unreadable_train, report.unreadable_train), (unreadable_test, report.unreadable_test)):
        for name in sorted(found.keys() - in_preflight.keys()):
            log.warning("unreadable (the header was fine, the audio was not): %s: %s", name, found[name])

    skipped = report.skipped_train | train_set.failed
    usable = np.flatnonzero([p not in skipped for p in competition.train_paths])
    labels = competition.train_labels[usable]
    fallback = competition.classes[int(np.bincount(labels, minlength=len(competition.classes)).argmax())]
    if options.resume:
        if read_run_config(run_dir)["classes"] != competition.classes:
            raise CompetitionError(f"the classes of {root} differ from those {run_dir} was trained on")
    else:
        write_run_config(run_dir, options.audio, options.train, competition.classes, fallback, root)

    groups = [competition.train_groups[i] for i in usable]
    inputs, y = train_set.inputs.take(usable), labels
    x = inputs.log_mels
    config = options.train
    strategy = select_strategy() if config.trains_network else None
    log.info("fitting %s (%s) on %d clips of %d recordings%s", " + ".join(config.member_names), _fold_plan(config), len(y),
             len(set(groups)), f"; {describe_strategy(strategy)}" if strategy else "")
    t = time.time()
    n_classes = len(competition.classes)
    fold_blends, fold_accuracies, member_probabilities = [], [], {}
    val_probabilities = np.full((len(y), n_classes), np.nan, np.float32)
    train_paths = [competition.train_paths[i] for i in usable]
    train_rates = native_rates(train_paths)
    prints = recording_fingerprints(x, options.audio) if config.recording_vote else None
    recordings = np.asarray(groups)
    copies = report.duplicate_copies()
    distinct = np.array([p not in copies for p in train_paths])  # a duplicate would put the link distance at 0 dB
    for fold, fold_blend, train_idx, val_idx in train_folds(inputs, y, groups, n_classes, config, run_dir, strategy):
        match_bandwidth(fold_blend, config, store, [train_paths[i] for i in train_idx], y[train_idx],
                        train_rates[val_idx], fold_dir(run_dir, fold), judged="validation")
        members = fold_blend.predict(inputs.take(val_idx), train_rates[val_idx])
        for name, probabilities in members.items():
            member_probabilities.setdefault(name, np.full((len(y), n_classes), np.nan, np.float32))[val_idx] = probabilities
        blended = fold_blend.average(members)
        val_probabilities[val_idx] = blended
        if config.recording_vote:
            fold_distinct = train_idx[distinct[train_idx]]
            known = KnownRecordings.of_training_clips(prints[fold_distinct], y[fold_distinct], recordings[fold_distinct], n_classes)
            val_probabilities[val_idx] = vote_by_recording(blended, prints[val_idx], known, "validation")
        fold_accuracies.append(_accuracy(val_probabilities[val_idx], y[val_idx]))
        log.info("fold %d/%d: accuracy %.4f on %d clips of unseen recordings", fold + 1, config.folds,
                 fold_accuracies[-1], len(val_idx))
        alone = {n: _accuracy(p, y[val_idx]) for n, p in members.items()}
        if config.recording_vote:
            alone["the blend before the recording vote"] = _accuracy(blended, y[val_idx])
        if len(alone) > 1:
            log.info("  each member alone: %s", _describe_members(alone))
        if config.trains_network:
            plot_history(os.path.join(fold_dir(run_dir, fold), HISTORY), os.path.join(fold_dir(run_dir, fold), "training_curves.png"))
        fold_blends.append(fold_blend)
    test_blend = blend_for_test(config, fold_blends, inputs, y, n_classes, run_dir)
    test_rates = readable_rates(test_set)
    match_bandwidth(test_blend, config, store, train_paths, y, test_rates, run_dir)
    timings["train_s"] = time.time() - t

    validated = ~np.isnan(val_probabilities[:, 0])
    member_accuracies = {name: _accuracy(p[validated], y[validated]) for name, p in member_probabilities.items()}
    unvoted_accuracy = _accuracy(test_blend.average(member_probabilities)[validated], y[validated])
    _write_validation_predictions(run_dir, train_paths, y, val_probabilities, competition.classes)
    evaluation = evaluate(y[validated], val_probabilities[validated].argmax(axis=1), competition.classes)
    title = (f"{' + '.join(config.member_names)}: "
             f"{'out-of-fold' if config.folds > 1 else 'validation'} accuracy on unseen recordings"
             + (" (synthetic demo data)" if demo else ""))
    write_evaluation(run_dir, evaluation, competition.classes, title)

    t = time.time()
    known = (KnownRecordings.of_training_clips(prints[distinct], y[distinct], recordings[distinct], n_classes)
             if config.recording_vote else None)
    submission, probabilities = _predictions(test_blend, config, options.audio, competition, test_set, test_rates, known,
                                             fallback)
    _write_probabilities(probabilities, os.path.join(run_dir, TEST_PROBABILITIES))
    timings["predict_s"] = time.time() - t
    timings["total_s"] = time.time() - started

    result = RunResult(run_dir, out, demo, evaluation["accuracy"], fallback, skipped, unreadable_test,
                       report.missing_test_files, report.test_notes, fold_accuracies, member_accuracies,
                       unvoted_accuracy if config.recording_vote else None)
    write_summary(run_dir, dataclasses.asdict(result) | {"n_train_clips": len(y), "n_validated": int(validated.sum()),
                                                         "timings": timings})
    try:
        write_submission(submission, out, competition.test_ids, competition.classes)
    except OSError as error:
        raise SubmissionUnwritten(
            f"{os_error_line(error)}; the run is complete in {run_dir}: once {os.path.dirname(os.path.abspath(out))} has room, "
            f"write the submission with: python Audio_Classification_Kaggle.py --predict-only --model-path {run_dir} "
            f"--data {root} --out {out}") from error
    log.info(format_summary(result))
    return result


def _with_embedders(store: FeatureStore, config) -> tuple:
    """The recipe's embedders, and the store whose extraction workers load their models first."""
    embedders = recipe_embedders(config, store.embedding_threads)
    return dataclasses.replace(store, worker_models=tuple(embedders.values())), embedders


def _test_clips(competition: Competition, store: FeatureStore, embedders: dict):
    return extract_clip_set(store, [p for p in competition.test_paths if p is not None], embedders, "test")


def check_pretrained(config: TrainConfig) -> list:
    """The licences of the pretrained models the recipe uses, once each; fails now, not after
    extracting features, if one's model is not installed."""
    embedders = recipe_embedders(config).values()
    for embedder in embedders:
        embedder.model_file()
    return list(dict.fromkeys(embedder.licence for embedder in embedders))


def failed_test_ids(competition: Competition, test_set) -> dict:
    """Test IDs whose file passed the header check but could not be decoded, with the reason."""
    by_path = test_set.failed
    return {i: by_path[p] for i, p in zip(competition.test_ids, competition.test_paths) if p in by_path}


def _fold_plan(config: TrainConfig) -> str:
    folds = f"{config.folds} group folds" if config.folds > 1 else f"one split, {config.val_fraction:.0%} of recordings held out"
    return folds + (f", {config.tta} test-time views" if config.tta > 1 else "")


def _predictions(blend: Blend, config: TrainConfig, audio: AudioConfig, competition: Competition, test_set, test_rates,
                 known: KnownRecordings | None, fallback: str) -> tuple:
    """(the submission, the blend's probabilities by test ID): every test ID predicted with the
    blend of the fold networks (over their test-time views) and the classical models (matched to
    the clip's sample rate where the blend has them), voted over the clips that look like slices
    of one recording (linked with each other and with the `known` training clips; when
    `config.recording_vote` is on), the fallback class where there is no usable clip."""
    probabilities = np.full((len(competition.test_ids), len(competition.classes)), np.nan, dtype=np.float32)
    row_of = {p: i for i, p in enumerate(competition.test_paths) if p is not None}
    rows = np.array([row_of[p] for p in test_set.paths], dtype=np.int64)[test_set.ok]
    readable = test_set.inputs.take(test_set.ok)
    if len(rows):
        blended = blend.average(blend.predict(readable, test_rates[test_set.ok]))
        if config.recording_vote:
            blended = vote_by_recording(blended, recording_fingerprints(readable.log_mels, audio), known)
        probabilities[rows] = blended
    usable = np.zeros(len(competition.test_ids), dtype=bool)
    usable[rows] = True
    names = to_class_names(np.nan_to_num(probabilities), competition.classes, usable, fallback)
    table = pd.DataFrame(probabilities, columns=competition.classes)
    table.insert(0, "ID", competition.test_ids)
    return make_submission(competition.test_ids, names), table


def _write_probabilities(table: pd.DataFrame, path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def _write_validation_predictions(run_dir, train_paths: list, labels: np.ndarray, probabilities: np.ndarray, classes: list) -> None:
    """Every validated clip with its true and predicted class and probabilities (out of fold
    with --folds): what to listen to when looking for the model's mistakes."""
    validated = ~np.isnan(probabilities[:, 0])
    table = pd.DataFrame(probabilities[validated], columns=classes)
    table.insert(0, "predicted", [classes[k] for k in probabilities[validated].argmax(axis=1)])
    table.insert(0, "class", [classes[k] for k in labels[validated]])
    table.insert(0, "path", [p for p, v in zip(train_paths, validated) if v])
    with atomic_path(os.path.join(run_dir, VALIDATION_PREDICTIONS)) as tmp:
        table.to_csv(tmp, index=False)


def probabilities_beside(submission_path) -> str:
    """Where --predict-only writes the test probabilities: beside the submission, e.g.
    submissions/submission_probabilities.csv."""
    return os.path.splitext(submission_path)[0] + "_probabilities.csv"


def _predict_only(options, competition, report, out, store, demo) -> RunResult:
    """Predict with a saved run without writing into its folder: it is the record of a training,
    and may be read-only (a Kaggle input dataset). Matched models the run lacks are fitted here
    and not saved; the probabilities go beside the submission."""
    saved = read_run_config(options.model_path)
    config = saved["train"]
    if saved["classes"] != competition.classes:
        # the training labels index the competition's classes, so no matched models can be fitted on them
        log.warning("the classes of %s (%s) differ from the run's (%s); predicting the run's classes, without "
                    "bandwidth matching", competition.root, competition.classes, saved["classes"])
        config = dataclasses.replace(config, match_bandwidth=False)
    competition = dataclasses.replace(competition, classes=saved["classes"])
    for licence in check_pretrained(config):
        log.warning("licence: %s", licence)
    blend = load_blend(options.model_path, config, len(saved["classes"]))
    store, embedders = _with_embedders(store, config)
    test_set = _test_clips(competition, store, embedders)
    test_rates = readable_rates(test_set)
    match_bandwidth(blend, config, store, competition.train_paths, competition.train_labels, test_rates,
                    options.model_path, save=False)
    known = _known_recordings(competition, report, store) if config.recording_vote else None
    probabilities_path = probabilities_beside(out)
    submission, probabilities = _predictions(blend, config, options.audio, competition, test_set, test_rates, known,
                                             saved["fallback_class"])
    write_submission(submission, out, competition.test_ids, competition.classes)
    _write_probabilities(probabilities, probabilities_path)
    log.info("test probabilities: %s", probabilities_path)
    result = RunResult(options.model_path, out, demo, None, saved["fallback_class"], {},
                       report.unreadable_test | failed_test_ids(competition, test_set), report.missing_test_files,
                       report.test_notes)
    log.info(format_summary(result))
    return result


def _known_recordings(competition: Competition, report, store: FeatureStore) -> KnownRecordings:
    """The competition's usable training clips (one of each set of duplicates), as the vote knows them."""
    train_set = store.log_mels(competition.train_paths, desc="train log-Mels")
    left_out = report.duplicate_copies() | set(report.skipped_train)
    kept = train_set.ok & np.array([p not in left_out for p in competition.train_paths], dtype=bool)
    return KnownRecordings.of_training_clips(recording_fingerprints(train_set.features[kept], store.audio),
                                             competition.train_labels[kept], np.asarray(competition.train_groups)[kept],
                                             len(competition.classes))


def _accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == labels))


def _describe_members(accuracies: dict) -> str:
    """Each member's accuracy, e.g. 'network 0.6300, logreg 0.7100'."""
    return ", ".join(f"{name} {accuracy:.4f}" for name, accuracy in accuracies.items())


def format_summary(result: RunResult) -> str:
    lines = ["", "summary" + (" (DEMO on synthetic audio)" if result.demo else "")]
    if result.val_accuracy is not None:
        if len(result.fold_accuracies) > 1:
            per_fold = ", ".join(f"{a:.4f}" for a in result.fold_accuracies)
            lines.append(f"  out-of-fold accuracy (unseen recordings): {result.val_accuracy:.4f} (folds: {per_fold})")
        else:
            lines.append(f"  validation accuracy (unseen recordings): {result.val_accuracy:.4f}")
        if result.accuracy_before_vote is not None:
            lines.append(f"  before the recording vote: {result.accuracy_before_vote:.4f}")
        if len(result.member_accuracies) > 1:
            lines.append("  each blended member alone: " + _describe_members(result.member_accuracies))
    lines.append(f"  run folder:  {result.run_dir}")
    lines.append(f"  submission:  {result.submission_path}")
    if result.skipped_train:
        lines.append(f"  {len(result.skipped_train)} train file(s) skipped:")
        lines += [f"    {p}: {r}" for p, r in result.skipped_train.items()]
    if result.unreadable_test or result.missing_test:
        lines.append(f"  {len(result.unreadable_test) + len(result.missing_test)} test ID(s) without a usable clip got the "
                     f"fallback class, {result.fallback_class} (the most frequent training class):")
        lines += [f"    {i}: {r}" for i, r in result.unreadable_test.items()]
        lines += [f"    {i}: no such file in test/test" for i in result.missing_test]
    if result.test_notes:
        lines.append(f"  {len(result.test_notes)} test clip(s) predicted with a warning:")
        lines += [f"    {i}: {note}" for i, note in result.test_notes.items()]
    return "\n".join(lines)
