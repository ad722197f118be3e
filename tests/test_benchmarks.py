import sys

import pytest

from freqquest.config import preset_config

from .conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import benchmark_classification  # noqa: E402


def test_benchmark_recipe_is_what_the_script_would_train():
    recipe_config = benchmark_classification.recipe_config
    assert recipe_config("") == preset_config("default")
    assert recipe_config("--preset scratch --model resnet --time-masks 2 --blend svm") == preset_config(
        "scratch", model="resnet", time_masks=2, blend="svm"
    )
    with pytest.raises(SystemExit):
        recipe_config("--folds")
