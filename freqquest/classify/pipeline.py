"""The classification run, stage by stage: find the data and check it, extract features, validate
the recipe fold by fold on unseen recordings, fit it for the test, predict, write the
submission. The script and the notebooks call `run_classification`."""

import dataclasses
import logging
import os
import time

import numpy as np

from ..blend.bandwidth import match_bandwidth, native_rates
from ..blend.classical import ModelFolder
from ..blend.members import blend_for_test, load_blend, recipe_embedders
from ..blend.recordings import recording_fingerprints
from ..blend.whole_set import TrainingClips
from ..competition import paths
from ..competition.dataset import (
    Competition,
    CompetitionError,
    PreflightReport,
    check_trainable,
    describe,
    preflight,
    scan_competition,
)
from ..competition.splits import n_splits
from ..config import AudioConfig, TrainConfig
from ..features.inputs import ClipSet, extract_clip_set
from ..features.store import FeatureStore
from ..io import check_file_writable, check_folder_writable, os_error_line
from ..runs import (
    RUN_CONFIG,
    TEST_MATCHES,
    TEST_PROBABILITIES,
    RunFolderError,
    RunInterrupted,
    SubmissionUnwritten,
    claim_run_folder,
    hold_run_folder,
    is_run_folder,
    open_run,
    read_run_config,
    release_run_folder,
    resumable,
    way_on,
    write_run_config,
    write_summary,
)
from .predictions import TestClips, TestPrediction, predict_test, probabilities_beside
from .reports import write_table
from .submission import write_submission
from .summary import RunResult, accuracy, format_summary
from .validation import Fitting, Validation, report_validation, validate_new_recordings, validate_reused_recordings

log = logging.getLogger(__name__)


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
class CheckedInputs:
    """What a run starts from once everything has been checked."""

    competition: Competition
    report: PreflightReport
    demo: bool
    out: str  # the submission's path
    store: FeatureStore


def default_run_dir(config: TrainConfig) -> str:
    """runs/<time>-<members> (under /kaggle/working on Kaggle), named as the script and the notebook name it."""
    return paths.default_run_dir("-".join(config.member_names))


def run_classification(options: ClassificationOptions) -> RunResult:
    """Everything is checked before any work: the data (preflight), the outputs, the recipe
    against the data, the models it needs; then the run folder is claimed and the run goes."""
    started = time.time()
    options = _as_saved(options)
    checked = _checked_inputs(options)
    if options.predict_only:
        return _predict_only(options.model_path, checked)
    config = options.train
    check_trainable(checked.competition, checked.report, n_splits(config.folds, config.val_fraction))
    licences = _check_pretrained(config)
    run_dir = options.run_dir or default_run_dir(config)
    check_folder_writable(run_dir, "--resume" if options.resume else "--run-dir")
    if options.resume:
        hold_run_folder(run_dir)
    else:
        claim_run_folder(run_dir, options.overwrite)
    for licence in licences:
        log.warning("licence: %s", licence)
    try:
        return _train_and_predict(options, checked, run_dir, started)
    except SubmissionUnwritten:
        raise
    except KeyboardInterrupt:
        saved = f"{run_dir} holds the finished folds and epochs, the feature cache what it extracted"
        raise RunInterrupted(run_dir, f"{saved}; {way_on(run_dir)}") from None
    except Exception:
        log.error("%s is incomplete: once the cause below is fixed, %s", run_dir, way_on(run_dir))
        raise
    finally:
        release_run_folder(run_dir)


def _as_saved(options: ClassificationOptions) -> ClassificationOptions:
    """The options of a resumed run as its folder saved them; a prediction's audio as its run's."""
    if options.resume:
        if is_run_folder(options.resume) and not resumable(options.resume):
            raise RunFolderError(
                f"{options.resume} holds no {RUN_CONFIG}: its run stopped before it began, so there is nothing to "
                f"resume; {way_on(options.resume)}"
            )
        saved = read_run_config(options.resume)
        log.info("resuming %s", options.resume)
        return dataclasses.replace(
            options,
            data=options.data or saved["data"],
            run_dir=options.resume,
            audio=saved["audio"],
            train=saved["train"],
        )
    if options.predict_only:
        if not options.model_path:
            raise ValueError("--predict-only needs --model-path RUN_DIR (a finished run folder)")
        return dataclasses.replace(options, audio=open_run(options.model_path).audio)
    return options


def _checked_inputs(options: ClassificationOptions) -> CheckedInputs:
    root, demo = paths.locate_competition(options.data, options.demo)
    competition = scan_competition(root)
    report = preflight(competition)
    log.info(describe(competition, report))
    out = options.out or paths.default_submission_path(demo)
    check_file_writable(out, "--out")
    cache_dir = options.cache_dir or paths.default_cache_dir()
    store = FeatureStore(options.audio, cache_dir, options.workers, options.embedding_threads)
    check_folder_writable(store.cache_dir, "--cache-dir")
    if options.train.weights:
        from ..models.efficientnet import weights_file  # Keras: only for a recipe with pretrained weights to fetch

        log.info("%s starts from the weights in %s", options.train.model, weights_file(options.train.weights))
    return CheckedInputs(competition, report, demo, out, store)


def _check_pretrained(config: TrainConfig) -> list:
    """The licences of the pretrained models the recipe uses, once each; fails now, not after
    extracting features, if one's model is not installed."""
    embedders = recipe_embedders(config).values()
    for embedder in embedders:
        embedder.model_file()
    return list(dict.fromkeys(embedder.licence for embedder in embedders))


def training_clips(
    competition: Competition, report: PreflightReport, train_set: ClipSet, audio: AudioConfig, vote: bool
) -> TrainingClips:
    """The training files to learn from (usable_train), with what the run needs of them."""
    usable = report.usable_train(competition.train_paths, train_set.failed)
    paths_ = [competition.train_paths[i] for i in usable]
    inputs = train_set.inputs.take(usable)
    copies = report.duplicate_copies()
    return TrainingClips(
        paths=paths_,
        inputs=inputs,
        labels=competition.train_labels[usable],
        groups=np.asarray([competition.train_groups[i] for i in usable]),
        rates=native_rates(paths_),
        distinct=np.array([p not in copies for p in paths_]),
        fingerprints=recording_fingerprints(inputs.log_mels, audio) if vote else None,
        n_classes=len(competition.classes),
        audio=audio,
    )


def _train_and_predict(
    options: ClassificationOptions, checked: CheckedInputs, run_dir: str, started: float
) -> RunResult:
    competition, config, timings = checked.competition, options.train, {}
    t = time.time()
    store, embedders = _with_embedders(checked.store, config)
    train_set, test = _extract(competition, checked.report, store, embedders)
    timings["features_s"] = time.time() - t
    clips = training_clips(competition, checked.report, train_set, store.audio, config.recording_vote)
    fallback = competition.classes[int(np.bincount(clips.labels, minlength=clips.n_classes).argmax())]
    _write_or_check_config(options, competition, run_dir, fallback, checked.demo)

    t = time.time()
    fitting = Fitting(config, clips, store, run_dir)
    validation = validate_new_recordings(fitting)
    reused = validate_reused_recordings(fitting)
    test_blend = blend_for_test(config, validation.blends, clips.inputs, clips.labels, clips.n_classes, run_dir)
    match_bandwidth(test_blend, config, store, clips.paths, clips.labels, test.rates, ModelFolder(run_dir))
    timings["train_s"] = time.time() - t
    evaluation = report_validation(validation, clips, competition.classes, config, run_dir, checked.demo)
    evaluation["reused"] = None if reused is None else accuracy(reused.probabilities, clips.labels)

    t = time.time()
    predicted = predict_test(test_blend, config, competition, test, clips, fallback)
    write_table(predicted.probabilities, os.path.join(run_dir, TEST_PROBABILITIES))
    write_table(predicted.matches, os.path.join(run_dir, TEST_MATCHES))
    timings["predict_s"] = time.time() - t
    timings["total_s"] = time.time() - started
    result = _result(checked, run_dir, fallback, train_set, test, predicted, evaluation, validation)
    counts = {"n_train_clips": len(clips.labels), "n_validated": int(validation.validated.sum())}
    summary = dataclasses.asdict(result) | counts | {"timings": timings}
    try:  # the submission first: the summary marks the run finished, and a kill between them leaves a run to resume
        _write_submission(predicted.submission, checked, run_dir)
    except SubmissionUnwritten:
        write_summary(run_dir, summary)  # the run is finished: --predict-only writes its submission
        raise
    write_summary(run_dir, summary)
    log.info(format_summary(result))
    return result


def _result(
    checked: CheckedInputs,
    run_dir: str,
    fallback: str,
    train_set: ClipSet,
    test: TestClips,
    predicted: TestPrediction,
    evaluation: dict,
    validation: Validation,
) -> RunResult:
    report = checked.report
    return RunResult(
        run_dir=run_dir,
        submission_path=checked.out,
        demo=checked.demo,
        val_accuracy=evaluation["accuracy"],
        fallback_class=fallback,
        skipped_train=report.skipped_train | train_set.failed,
        unreadable_test=test.unreadable,
        missing_test=report.missing_test_files,
        test_notes=report.test_notes,
        fold_accuracies=validation.fold_accuracies,
        member_accuracies=evaluation["members"],
        accuracy_blend_alone=evaluation["blend_alone"],
        reused_accuracy=evaluation["reused"],
        test_slice_share=predicted.share,
        test_matched=predicted.matched,
        routed=predicted.routed,
        example_clip=test.example_clip,
    )


def _with_embedders(store: FeatureStore, config: TrainConfig) -> tuple:
    """The recipe's embedders, and the store whose extraction workers load their models first:
    one set of workers serves all of a run's extractions."""
    embedders = recipe_embedders(config, store.embedding_threads)
    return dataclasses.replace(store, worker_models=tuple(embedders.values())), embedders


def _extract(competition: Competition, report: PreflightReport, store: FeatureStore, embedders: dict) -> tuple:
    """(the training clips' ClipSet, the TestClips): features of every file, cached; a file whose
    header was fine but whose audio was not is named here."""
    train_set = extract_clip_set(store, competition.train_paths, embedders, "train")
    test = TestClips.extract(competition, report, store, embedders)
    log.info(
        "features of the train clips: %s; of the test clips: %s (%s)",
        train_set.describe_counts(),
        test.clips.describe_counts(),
        store.cache_dir,
    )
    for name in sorted(train_set.failed.keys() - report.unreadable_train.keys()):
        log.warning("unreadable (the header was fine, the audio was not): %s: %s", name, train_set.failed[name])
    return train_set, test


def _write_or_check_config(
    options: ClassificationOptions, competition: Competition, run_dir: str, fallback: str, demo: bool
):
    if not options.resume:
        write_run_config(run_dir, options.audio, options.train, competition.classes, fallback, competition.root, demo)
    elif read_run_config(run_dir)["classes"] != competition.classes:
        raise CompetitionError(f"the classes of {competition.root} differ from those {run_dir} was trained on")


def _write_submission(submission, checked: CheckedInputs, run_dir: str) -> None:
    competition, out = checked.competition, checked.out
    if checked.demo and os.path.isfile(out):
        log.info("replacing %s, the submission of an earlier demo run", out)
    try:
        write_submission(submission, out, competition.test_ids, competition.classes)
    except OSError as error:
        raise SubmissionUnwritten(
            f"{os_error_line(error)}; the run is complete in {run_dir}: once "
            f"{os.path.dirname(os.path.abspath(out))} has room, write the submission with: "
            f"python Audio_Classification_Kaggle.py --predict-only --model-path {run_dir} "
            f"--data {competition.root} --out {out}"
        ) from error


def _predict_only(model_path: str, checked: CheckedInputs) -> RunResult:
    """Predict with a saved run without writing into its folder: it is the record of a training,
    and may be read-only (a Kaggle input dataset). Matched models the run lacks are fitted here
    and not saved; the probabilities go beside the submission."""
    run = open_run(model_path)
    competition, report, config = checked.competition, checked.report, run.train
    if run.classes != competition.classes:
        # the training labels index the competition's classes, so no matched models can be fitted on them
        log.warning(
            "the classes of %s (%s) differ from the run's (%s); predicting the run's classes, without bandwidth "
            "matching",
            competition.root,
            competition.classes,
            run.classes,
        )
        config = dataclasses.replace(config, match_bandwidth=False)
    competition = dataclasses.replace(competition, classes=run.classes)
    for licence in _check_pretrained(config):
        log.warning("licence: %s", licence)
    blend = load_blend(model_path, config, len(run.classes))
    store, embedders = _with_embedders(checked.store, config)
    test = TestClips.extract(competition, report, store, embedders)
    match_bandwidth(
        blend,
        config,
        store,
        competition.train_paths,
        competition.train_labels,
        test.rates,
        ModelFolder(model_path, save=False),  # nothing is written into the run folder
    )
    train_set = extract_clip_set(store, competition.train_paths, embedders, "train")
    clips = training_clips(competition, report, train_set, store.audio, config.recording_vote)
    predicted = predict_test(blend, config, competition, test, clips, run.fallback_class)
    write_submission(predicted.submission, checked.out, competition.test_ids, competition.classes)
    write_table(predicted.probabilities, probabilities_beside(checked.out))
    log.info("test probabilities: %s", probabilities_beside(checked.out))
    result = RunResult(
        run_dir=model_path,
        submission_path=checked.out,
        demo=checked.demo,
        val_accuracy=None,
        fallback_class=run.fallback_class,
        skipped_train={},
        unreadable_test=test.unreadable,
        missing_test=report.missing_test_files,
        test_notes=report.test_notes,
        test_slice_share=predicted.share,
        test_matched=predicted.matched,
        routed=predicted.routed,
    )
    log.info(format_summary(result))
    return result
