"""Where the competition data is and where outputs go, locally, on Kaggle and on Colab."""

import glob
import logging
import os
import sys
import time

from .demo import build_demo, is_demo

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


class CompetitionError(Exception):
    """The competition folder is not usable as it is; the message says what to fix."""


def is_competition_root(path) -> bool:
    return os.path.isdir(os.path.join(path, "train", "train")) and os.path.isdir(os.path.join(path, "test", "test"))


log = logging.getLogger(__name__)

KAGGLE_INPUT = "/kaggle/input"
KAGGLE_WORKING = "/kaggle/working"
COLAB_CONTENT = "/content"
DOWNLOAD_HINT = (
    "to use the real data: kaggle competitions download -c the-frequency-quest, "
    "then unzip it into ./data (or pass --data /path/to/competition)"
)


def on_kaggle() -> bool:
    return "KAGGLE_KERNEL_RUN_TYPE" in os.environ or os.path.isdir(KAGGLE_WORKING)


def on_colab() -> bool:
    return "COLAB_RELEASE_TAG" in os.environ or "google.colab" in sys.modules


def platform_name() -> str:
    return "Kaggle" if on_kaggle() else "Colab" if on_colab() else "local"


def search_bases() -> list:
    return [os.path.abspath("data"), KAGGLE_INPUT, COLAB_CONTENT]


def find_competition_root(bases=None):
    """The first folder with the competition layout, at most two levels below a base
    (a zip unpacks to e.g. data/the-frequency-quest/); demo folders are not real data."""
    for base in bases if bases is not None else search_bases():
        if not os.path.isdir(base):
            continue
        candidates = (
            [base] + sorted(glob.glob(os.path.join(base, "*"))) + sorted(glob.glob(os.path.join(base, "*", "*")))
        )
        for candidate in candidates:
            if os.path.isdir(candidate) and is_competition_root(candidate) and not is_demo(candidate):
                return candidate
    return None


def output_base() -> str:
    return KAGGLE_WORKING if on_kaggle() else "."


def default_submission_path(demo: bool = False) -> str:
    """submission.csv, or for a demo run demo_submission.csv: a demo never replaces a real submission."""
    name = "demo_submission.csv" if demo else "submission.csv"
    return os.path.join(KAGGLE_WORKING if on_kaggle() else "submissions", name)


def default_run_dir(recipe_name: str) -> str:
    return os.path.join(output_base(), "runs", f"{time.strftime('%Y%m%d-%H%M%S')}-{recipe_name}")


def default_cache_dir() -> str:
    return os.path.join(output_base(), "cache")


def default_demo_dir() -> str:
    return os.path.join(output_base(), "data", "demo")


DEMO_BANNER = """
==========================================================================================
  DEMO RUN ON SYNTHETIC AUDIO: no competition data was found{where}.
  The demo competition in {root} is made of synthetic sounds; its accuracy says
  nothing about real recordings. Its submission is written as demo_submission.csv.
  {hint}
==========================================================================================
"""


LAYOUT = "train/train/<class>/ and test/test/"


def diagnose_competition_folder(data) -> str | None:
    """Why `data` is not a competition root, in terms of what it holds (None when it is one): it does
    not exist; it is a class folder's parent, a `train` folder, or a root missing one `train`
    level; and the folder that would work, where one is near."""
    data = os.path.normpath(str(data))
    if not os.path.exists(data):
        return f"{data} does not exist"
    if not os.path.isdir(data):
        return f"{data} is a file, not a folder"
    if is_competition_root(data):
        return None
    for near in (os.path.dirname(data), os.path.dirname(os.path.dirname(data))):
        if near != data and is_competition_root(near):
            return f"{data} is inside the competition: give its root, --data {near}"
    found = sorted(n for n in os.listdir(data) if not n.startswith("."))
    class_folders = [n for n in found if _holds_audio(os.path.join(data, n))]
    if _holds_audio(data):
        return f"{data} holds audio files itself; give the competition root, which holds {LAYOUT}"
    if os.path.isdir(os.path.join(data, "train")) and not os.path.isdir(os.path.join(data, "train", "train")):
        classes = [n for n in os.listdir(os.path.join(data, "train")) if _holds_audio(os.path.join(data, "train", n))]
        if classes:
            return (
                f"{data}/train holds the class folders ({', '.join(sorted(classes)[:3])}, ...) directly: the layout "
                f"has one train level more (move them into {os.path.join(data, 'train', 'train')})"
            )
    if class_folders:
        return (
            f"{data} holds class folders ({', '.join(class_folders[:3])}, ...) directly: give the competition root, "
            f"which holds {LAYOUT}"
        )
    missing = [p for p in ("train/train", "test/test") if not os.path.isdir(os.path.join(data, p))]
    return f"{data} has no {' and no '.join(missing)} folder (it holds: {', '.join(found[:6]) or 'nothing'})"


def _holds_audio(folder) -> bool:
    return os.path.isdir(folder) and any(n.lower().endswith(AUDIO_EXTENSIONS) for n in os.listdir(folder))


def locate_competition(data=None, demo=False) -> tuple[str, bool]:
    """(root, is_demo): the given folder, else the first one found, else the demo (built once)."""
    if demo:
        return build_demo(default_demo_dir()), True
    if data:
        problem = diagnose_competition_folder(data)
        if problem:
            raise CompetitionError(
                f"{problem}. The competition layout is train/train/<class>/*.wav, test/test/*.wav and "
                f"sample_submission.csv; {DOWNLOAD_HINT}"
            )
        return data, is_demo(data)
    found = find_competition_root()
    if found:
        return found, False
    root = build_demo(default_demo_dir())
    where = " in " + ", ".join(b for b in search_bases())
    log.warning(DEMO_BANNER.format(where=where, root=root, hint=DOWNLOAD_HINT))
    return root, True
