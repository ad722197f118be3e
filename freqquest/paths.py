"""Where the competition data is and where outputs go, locally, on Kaggle and on Colab."""
import glob
import os
import sys
import time

from .dataset import is_competition_root
from .demo import is_demo

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
        candidates = [base] + sorted(glob.glob(os.path.join(base, "*"))) + sorted(glob.glob(os.path.join(base, "*", "*")))
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
