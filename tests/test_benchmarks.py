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


def test_cgan_benchmark_builds_each_direction_from_its_own_fold():
    import benchmark_cgan

    command = benchmark_cgan.competition_command("2to1", "/tmp/out")
    assert command[1].endswith("make_competition.py")
    assert command[command.index("--out") + 1] == "/tmp/out"
    assert command[command.index("--train-folds") + 1] == "2"
    assert command[command.index("--test-folds") + 1] == "1"
    assert benchmark_cgan.competition_command("1to2", "/tmp/out")[command.index("--train-folds") + 1] == "1"
    with pytest.raises(KeyError):
        benchmark_cgan.competition_command("kaggle", "/tmp/out")
