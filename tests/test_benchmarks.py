import sys

import numpy as np
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


def _evaluation(per_class_accuracy: dict, per_class: int = 10) -> dict:
    return {
        "classes": list(per_class_accuracy),
        "per_class": per_class,
        "conditional_accuracy": {"generated": {"per_class": per_class_accuracy}},
    }


def test_cgan_benchmark_compares_recipes_on_every_generated_clip_pooled_over_directions_and_seeds(capsys):
    import benchmark_cgan

    first = _evaluation({"siren": 0.2, "dog_bark": 1.0})
    judged = benchmark_cgan.generated_judgements(first)
    assert judged.dtype == np.float64 and judged.shape == (20,) and judged.sum() == 12
    np.testing.assert_array_equal(benchmark_cgan.generated_judgements(first, "siren"), [1, 1] + [0] * 8)

    bce = {"1to2": _evaluation({"siren": 0.6, "dog_bark": 1.0}), "2to1": first}  # better in one training only
    rows = [
        benchmark_cgan.MeasuredRun(recipe, direction, 42, 4, 0.0, 0.0, 0.0, evaluations[direction], "run")
        for recipe, evaluations in (("", {"1to2": first, "2to1": first}), ("--loss bce", bce))
        for direction in ("1to2", "2to1")
    ]
    assert rows[0].name == "(the default), 1to2, seed 42, 4 candidate(s)"
    benchmark_cgan.print_differences(rows)
    printed = capsys.readouterr().out
    assert "pooled over 1to2 seed 42, 2to1 seed 42; 95% intervals over the generated clips" in printed
    assert "--loss bce (4 candidate(s)) - (the default):" in printed
    assert "siren          +20.00 [" in printed and "dog_bark       +0.00 [+0.00, +0.00]" in printed
    assert "overall        +10.00 [" in printed
    assert "overall, 1to2 seed 42: +20.00 [" in printed and "overall, 2to1 seed 42: +0.00 [" in printed
