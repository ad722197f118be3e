import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

from freqquest.config import AudioConfig  # noqa: E402
from freqquest.demo import build_demo  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
US8K5 = SHARED / "data" / "us8k5"
TOOLS = SHARED / "tools"

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
