"""Where the competition data is and where outputs go, locally, on Kaggle and on Colab."""

import glob
import logging
import os
import sys
import time

from .dataset import CompetitionError, is_competition_root
from .demo import build_demo, is_demo

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


def locate_competition(data=None, demo=False) -> tuple[str, bool]:
    """(root, is_demo): the given folder, else the first one found, else the demo (built once)."""
    if demo:
        return build_demo(default_demo_dir()), True
    if data:
        if not is_competition_root(data):
            raise CompetitionError(
                f"{data} does not have the competition layout (train/train/<class>/*.wav, test/test/*.wav, "
                f"sample_submission.csv); {DOWNLOAD_HINT}"
            )
        return data, is_demo(data)
    found = find_competition_root()
    if found:
        return found, False
    root = build_demo(default_demo_dir())
    where = " in " + ", ".join(b for b in search_bases())
    log.warning(DEMO_BANNER.format(where=where, root=root, hint=DOWNLOAD_HINT))
    return root, True
