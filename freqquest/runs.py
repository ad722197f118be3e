"""A run folder, and everything about it: the name of every file and folder in it (a classifier's
and a CGAN's), its config, whether it is complete, the one way to open a finished run, and the
command that resumes one.

A new run gets a folder of its own; a folder that holds a run is never written over unless asked;
a folder counts as complete only once its run wrote its summary, last.

    <run>/config.json                the audio and recipe configs, classes, fallback class, data, versions
    <run>/fold_<k>/                  a fold's network (model.keras, history.csv, training_curves.png,
                                     backup/, fold_done.json) and its fitted members (<member>.joblib)
    <run>/fold_<k>/classical_<rate>hz/   its members matched to a low sample rate
    <run>/classical/                 the members refitted on every training clip
    <run>/classical_<rate>hz/        those matched to a low rate, for the test clips recorded at it
    <run>/report.txt, report.json, confusion_matrix.png, validation_predictions.csv, test_probabilities.csv
    <run>/test_matches.csv           each test clip's nearest training clip, its score, and its posterior of
                                     being a slice of a training recording
    <run>/summary.json               written last
    <run>/.run.lock                  while a run writes the folder: the process (a second run is refused)

A CGAN's run folder (cgan-<loss>-<time>) holds config.json, .run.lock and summary.json as well, and:

    <run>/checkpoint/                both networks, both optimizers and the noise state, after every epoch
    <run>/history.csv, losses.png    the losses and scores per epoch
    <run>/gan_spectrogram_plots/, gan_generated_audio/   a grid and a clip per class every few epochs
    <run>/evaluation.json            the evaluation's figures
    <run>/listening.html, listening/ generated clips beside held-out real ones, to judge by ear
"""

import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import logging
import os
import platform
import shlex
import shutil

from . import __version__
from .config import AudioConfig, TrainConfig, from_dict, to_dict
from .io import write_text_atomic

RUN_CONFIG = "config.json"
RUN_LOCK = ".run.lock"  # the process writing the folder: its id and start; removed when the run ends
SUMMARY = "summary.json"  # written last: a run folder without it is incomplete
REPORT_TEXT = "report.txt"
REPORT_JSON = "report.json"
CONFUSION_MATRIX = "confusion_matrix.png"
VALIDATION_PREDICTIONS = "validation_predictions.csv"
TEST_PROBABILITIES = "test_probabilities.csv"
TEST_MATCHES = "test_matches.csv"
BEST_MODEL = "model.keras"
HISTORY = "history.csv"
TRAINING_CURVES = "training_curves.png"
BACKUP_DIR = "backup"
FOLD_DONE = "fold_done.json"
CLASSICAL_DIR = "classical"  # the members fitted on every training clip
MATCHED_PREFIX, MATCHED_SUFFIX = "classical_", "hz"  # a member matched to a low rate: classical_<rate>hz
GAN_CHECKPOINT = "checkpoint"
GAN_LOSS_CURVES = "losses.png"
GAN_EVALUATION = "evaluation.json"
GAN_SAMPLE_AUDIO = "gan_generated_audio"
GAN_SAMPLE_PLOTS = "gan_spectrogram_plots"
LISTENING_PAGE = "listening.html"
LISTENING_DIR = "listening"
GENERATED_LIST = "generated.csv"  # beside the clips `generate` writes (a folder of the user's, not the run's)
CLASSIFIER_SCRIPT = "Audio_Classification_Kaggle.py"
CGAN_SCRIPT = "Audio_Generation_CGAN.py"
PREDICT_COMMAND = "python -m freqquest.predict {run_dir} CLIP.wav"
SERVE_COMMAND = "python -m freqquest.serve {run_dir}"
EXPORT_COMMAND = "python -m freqquest.export {run_dir} --int8 model.tflite"


log = logging.getLogger(__name__)


class RunFolderError(ValueError):
    """A run folder cannot be used as asked; the message says what to do instead."""


class RunInterrupted(Exception):
    """Ctrl-C during a run: `run_dir` holds what it saved, which --resume continues."""

    def __init__(self, run_dir: str, saved: str):
        self.run_dir, self.saved = run_dir, saved
        super().__init__(f"interrupted: {saved}")


class SubmissionUnwritten(Exception):
    """The run finished and is saved, but its submission could not be written; the message says
    why and gives the --predict-only command that writes it."""


def resume_command(run_dir, script: str = CLASSIFIER_SCRIPT) -> str:
    """The command that continues `run_dir`, a run of `script` (CLASSIFIER_SCRIPT or CGAN_SCRIPT)."""
    return f"python {script} --resume {shlex.quote(str(run_dir))}"


def fold_dir(run_dir, fold: int) -> str:
    return os.path.join(run_dir, f"fold_{fold + 1}")


def classical_dir(run_dir) -> str:
    return os.path.join(run_dir, CLASSICAL_DIR)


def matched_dir(directory, rate: int) -> str:
    """Where members matched to sample rate `rate` are saved, beside the full-band ones of `directory`."""
    return os.path.join(directory, f"{MATCHED_PREFIX}{rate}{MATCHED_SUFFIX}")


def matched_rates(directory) -> list:
    """The low sample rates that `directory` holds matched members for, ascending."""
    if not os.path.isdir(directory):
        return []
    names = (
        n[len(MATCHED_PREFIX) : -len(MATCHED_SUFFIX)] for n in os.listdir(directory) if n.startswith(MATCHED_PREFIX)
    )
    return sorted(int(n) for n in names if n.isdigit())


def library_versions() -> dict:
    versions = {"python": platform.python_version(), "freqquest": __version__}
    for package in ("tensorflow", "keras", "librosa", "numpy", "scikit-learn"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def write_config(run_dir, payload: dict) -> None:
    """A run's config.json: `payload` (configs as dicts) and the library versions it ran with."""
    write_text_atomic(
        os.path.join(run_dir, RUN_CONFIG), json.dumps(payload | {"versions": library_versions()}, indent=2)
    )


def read_config(run_dir, kind: str) -> dict:
    """A run folder's config.json with `audio` as an AudioConfig; `kind` names the run in the error
    when there is none."""
    path = os.path.join(run_dir, RUN_CONFIG)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a {kind} run folder")
    with open(path) as f:
        payload = json.load(f)
    payload["audio"] = from_dict(AudioConfig, payload["audio"])
    return payload


def write_run_config(
    run_dir, audio: AudioConfig, train: TrainConfig, classes: list, fallback_class: str, data_root: str, demo: bool
) -> None:
    write_config(
        run_dir,
        {
            "audio": to_dict(audio),
            "train": to_dict(train),
            "classes": list(classes),
            "fallback_class": fallback_class,
            "data": os.path.abspath(data_root),
            "demo": bool(demo),
        },
    )


def read_run_config(run_dir) -> dict:
    """The saved config of a classifier run, with `audio` and `train` as config objects."""
    payload = read_config(run_dir, "freqquest")
    if "train" not in payload:
        raise FileNotFoundError(f"{run_dir} is a CGAN run, not a classifier run")
    # runs saved before these options had none of them
    old = {"blend": "", "embeddings": "", "match_bandwidth": False, "recording_vote": False}
    payload["train"] = from_dict(TrainConfig, old | payload["train"])
    payload.setdefault("demo", False)
    return payload


DEMO_NOTE = "a model of the synthetic demo: its answers on real recordings mean nothing"


@dataclasses.dataclass(frozen=True)
class FinishedRun:
    """A complete classifier run, as predict, --predict-only, export and serve open it."""

    run_dir: str
    audio: AudioConfig
    train: TrainConfig
    classes: list
    fallback_class: str
    data: str  # the competition it was trained on
    demo: bool  # trained on the synthetic demo: its accuracy says nothing about real recordings

    @property
    def summary(self) -> dict:
        with open(os.path.join(self.run_dir, SUMMARY)) as f:
            return json.load(f)


def open_run(run_dir, usage: str = "{run_dir}") -> FinishedRun:
    """The finished run in `run_dir`; RunFolderError with the way forward when it is not one."""
    require_complete(run_dir, usage)
    saved = read_run_config(run_dir)
    return FinishedRun(
        str(run_dir),
        saved["audio"],
        saved["train"],
        saved["classes"],
        saved["fallback_class"],
        saved["data"],
        saved["demo"],
    )


def is_run_folder(run_dir) -> bool:
    """A folder a run claimed: it holds a run's config, or the claim of a run that stopped before writing one."""
    return any(os.path.isfile(os.path.join(run_dir, name)) for name in (RUN_CONFIG, RUN_LOCK))


@dataclasses.dataclass(frozen=True)
class RunHolder:
    """The process that writes a run folder: its id, its start as the system counts it (which tells
    a process id that was reused apart), and the time it claimed the folder, for the message."""

    pid: int
    started: str
    since: str

    @classmethod
    def this_process(cls) -> "RunHolder":
        return cls(os.getpid(), process_start(os.getpid()), datetime.datetime.now().isoformat(timespec="seconds"))

    @classmethod
    def of(cls, run_dir) -> "RunHolder | None":
        try:
            with open(os.path.join(run_dir, RUN_LOCK)) as f:
                return cls(**json.load(f))
        except (OSError, ValueError, TypeError):
            return None

    def alive(self) -> bool:
        """Its process still runs (one killed and not yet reaped by its parent, a zombie, does not) and is
        the one that claimed the folder."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        fields = _process_stat(self.pid)
        return process_start(self.pid) == self.started and not (fields and fields[0] == "Z")

    def describe(self) -> str:
        return f"process {self.pid} (since {self.since})"


def _process_stat(pid: int) -> list:
    """The fields of /proc/<pid>/stat after the command's name (Linux); [] where there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def process_start(pid: int) -> str:
    """The process's start in clock ticks since boot (Linux); '' where it cannot be read."""
    fields = _process_stat(pid)
    return fields[19] if len(fields) > 19 else ""


def process_running(pid: int) -> bool:
    """Alive and not a zombie (a killed process its parent has not reaped computes nothing and holds no
    memory), as /proc tells it (Linux)."""
    fields = _process_stat(pid)
    return bool(fields) and fields[0] != "Z"


def hold_run_folder(run_dir) -> None:
    """Make this process the one that writes `run_dir`, from its first second: refused while another
    live process holds it; a claim whose process is gone (killed) is said and taken. Temporary files
    that a killed run left are removed: nothing else writes here."""
    holder = refuse_if_held(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, RUN_LOCK)
    if holder is not None:
        log.warning("%s was claimed by %s, which is gone: this run takes it", run_dir, holder.describe())
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        winner = RunHolder.of(run_dir)
        raise RunFolderError(
            f"{run_dir} was claimed a moment ago by {winner.describe() if winner else 'another run'}: choose another "
            f"--run-dir"
        ) from None
    with os.fdopen(descriptor, "w") as f:
        json.dump(dataclasses.asdict(RunHolder.this_process()), f)
    for folder, _, names in os.walk(run_dir):
        for name in names:
            if name.startswith(".") and name.endswith(".tmp"):
                os.remove(os.path.join(folder, name))


def refuse_if_held(run_dir) -> "RunHolder | None":
    """RunFolderError naming the process when another live one writes `run_dir`; else its claim, if any."""
    holder = RunHolder.of(run_dir) if os.path.isdir(run_dir) else None
    if holder is not None and holder.pid != os.getpid() and holder.alive():
        raise RunFolderError(
            f"{run_dir} is being written by {holder.describe()}, another run: wait for it to end, or choose another "
            f"--run-dir"
        )
    return holder


def release_run_folder(run_dir) -> None:
    """The run that holds `run_dir` is over (finished, failed or interrupted)."""
    holder = RunHolder.of(run_dir)
    if holder is not None and holder.pid == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(run_dir, RUN_LOCK))


def resumable(run_dir) -> bool:
    """Whether --resume can continue `run_dir`: it holds the config its run wrote first."""
    return os.path.isfile(os.path.join(run_dir, RUN_CONFIG))


def way_on(run_dir) -> str:
    """The command that goes on from an unfinished run folder: --resume once it holds a config, else
    a new start there (its run stopped before it began)."""
    if resumable(run_dir):
        return f"continue with: {resume_command(run_dir)}"
    return f"start it again with --overwrite --run-dir {shlex.quote(str(run_dir))}"


def is_complete(run_dir) -> bool:
    return os.path.isfile(os.path.join(run_dir, SUMMARY))


def claim_run_folder(run_dir, overwrite: bool = False) -> None:
    """Make `run_dir` the folder of a new run: created if absent, refused if it holds anything
    (a finished or an interrupted run would be mixed with this one), cleared first with
    `overwrite`, but only if it is a run folder (never a folder of the user's own)."""
    holder = refuse_if_held(run_dir)
    if os.path.isdir(run_dir) and os.listdir(run_dir):
        if not overwrite:
            if is_run_folder(run_dir) and not resumable(run_dir):
                raise RunFolderError(
                    f"{run_dir} holds the claim of a run that stopped before it began "
                    f"({holder.describe() if holder else 'its process'}, gone): "
                    f"--overwrite starts a run there, or choose another --run-dir"
                )
            state = (
                ("a finished run" if is_complete(run_dir) else "an unfinished run")
                if is_run_folder(run_dir)
                else "files"
            )
            raise RunFolderError(
                f"{run_dir} already holds {state}: --resume {run_dir} continues an unfinished run, "
                f"--overwrite replaces a run, or choose another --run-dir"
            )
        if not is_run_folder(run_dir):
            raise RunFolderError(
                f"{run_dir} holds files but no run ({RUN_CONFIG}): --overwrite only replaces run folders; "
                f"choose another --run-dir"
            )
        shutil.rmtree(run_dir)
    elif os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise RunFolderError(f"{run_dir} is a file, not a folder: choose another --run-dir")
    hold_run_folder(run_dir)


def require_complete(run_dir, usage: str = "{run_dir}") -> None:
    """Refuse to predict from a folder that is not a finished run, saying what to do instead; `usage`
    (with {run_dir}) is the command that would use a run, named when `run_dir` holds runs."""
    if not os.path.isdir(run_dir):
        raise RunFolderError(f"{run_dir} does not exist: give the folder of a finished run (runs/<time>-<members>)")
    if not is_run_folder(run_dir):
        inside = newest_complete_run(run_dir)
        if inside:
            raise RunFolderError(
                f"{run_dir} holds runs, it is not one: the newest finished run in it is {inside}; use it with: "
                + usage.format(run_dir=shlex.quote(inside))
            )
        raise RunFolderError(f"{run_dir} is not a run folder ({RUN_CONFIG} is missing)")
    if not is_complete(run_dir):
        raise RunFolderError(
            f"{run_dir} is incomplete: its run stopped before the end ({SUMMARY} is missing); "
            f"finish it with: {resume_command(run_dir)}"
        )


def newest_complete_run(folder) -> str | None:
    """The finished run folder directly inside `folder` whose summary was written last."""
    runs = [os.path.join(folder, n) for n in os.listdir(folder) if is_complete(os.path.join(folder, n))]
    runs = [r for r in runs if is_run_folder(r)]
    return max(runs, key=lambda r: os.path.getmtime(os.path.join(r, SUMMARY))) if runs else None


def write_summary(run_dir, payload: dict) -> None:
    """The run's last file: with it the folder is complete."""
    write_text_atomic(os.path.join(run_dir, SUMMARY), json.dumps(payload, indent=2))
