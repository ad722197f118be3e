import json
import os
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


def test_the_memorizer_benchmark_counts_each_blends_errors_over_its_folds():
    import benchmark_memorizer

    fold = {
        "test_idx": [0, 1, 2],
        "default": [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]],  # wrong on clip 1
        "memorizer": [[0.2, 0.8], [0.0, 1.0], [0.3, 0.7]],  # wrong on clip 0
        "posterior": [0.0, 0.1, 0.5],  # clip 1 hardly a slice: the memorizer weighs 0.1 there
        "matched": [True, False, False],
    }
    second = fold | {"second": [[0.6, 0.4], [0.1, 0.9], [0.9, 0.1]]}  # agrees with the memorizer on clip 1 only
    correct = benchmark_memorizer.blend_correct([fold, second], np.array([0, 1, 1]))
    errors = {name: int(np.sum(~right)) for name, right in correct.items()}
    assert errors == {
        "the default": 2,
        "the memorizer alone": 2,
        "the two averaged, every clip": 0,
        "the memorizer in proportion to the clip's posterior of being a slice": 2,
        "the memorizer for the clips routing did not take": 0,
        "both memorizers where they agree against the default": 0,  # only the second fold has a second
    }
    assert correct["the default"].tolist() == [True, False, True] * 2
    assert correct["both memorizers where they agree against the default"].tolist() == [True, True, True]


def test_cgan_benchmark_builds_each_set_of_clips_from_its_own_folds():
    import benchmark_cgan

    command = benchmark_cgan.competition_command("2to1", "/tmp/out")
    assert command[1].endswith("make_competition.py")
    assert command[command.index("--out") + 1] == "/tmp/out"
    assert command[command.index("--train-folds") + 1] == "2"
    assert command[command.index("--test-folds") + 1] == "1"
    assert benchmark_cgan.competition_command("1to2", "/tmp/out")[command.index("--train-folds") + 1] == "1"
    every_clip = benchmark_cgan.competition_command("all", "/tmp/out")
    assert every_clip[every_clip.index("--test-frac") + 1] == "0" and "--train-folds" not in every_clip
    with pytest.raises(KeyError):
        benchmark_cgan.competition_command("kaggle", "/tmp/out")


def _evaluation(generated: dict, real: dict | None = None, per_class: int = 10) -> dict:
    """An evaluation's figures as the ledger reads them: the GAN-test judge's and the held-out judge's."""
    real = real or {c: 1.0 for c in generated}

    def figures(per_class_accuracy):
        return {"overall": float(np.mean(list(per_class_accuracy.values()))), "per_class": per_class_accuracy}

    return {
        "classes": list(generated),
        "per_class": per_class,
        "gan_test": {"generated": figures(generated), "real, the files themselves": figures(real)},
        "conditional_accuracy": {"generated": figures(generated), "real, the files themselves": figures(real)},
        "distances": {"generated": {"kid": 0.3}, "real (floor)": {"kid": 0.2}},
    }


def _cell_figures(evaluation: dict) -> dict:
    return {"evaluation": evaluation, "train_s": 100.0, "evaluate_s": 20.0, "peak_rss_mb": 900.0, "commit": "c"}


def test_cgan_ledger_compares_recipes_on_every_generated_clip_pooled_over_cells_and_seeds(tmp_path, capsys):
    import cgan_ledger

    first = _evaluation({"siren": 0.2, "dog_bark": 1.0})
    judged = cgan_ledger.generated_judgements(first, "gan_test")
    assert judged.dtype == np.float64 and judged.shape == (20,) and judged.sum() == 12
    np.testing.assert_array_equal(cgan_ledger.generated_judgements(first, "gan_test", "siren"), [1, 1] + [0] * 8)

    ledger = cgan_ledger.Ledger(str(tmp_path))
    bce = {"1to2": _evaluation({"siren": 0.6, "dog_bark": 1.0}), "2to1": first}  # better in one training only
    for recipe, evaluations in (("", {"1to2": first, "2to1": first}), ("--loss bce", bce)):
        for cell in ("1to2", "2to1"):
            ledger.record(cgan_ledger.CellKey(recipe, cell, 42, 4, "h"), _cell_figures(evaluations[cell]))
    ledger.record(
        cgan_ledger.CellKey("--loss bce", "all", 42, 4, "h"), _cell_figures(bce["1to2"])
    )  # the default lacks it
    ledger.record(cgan_ledger.CellKey("", "1to2", 42, 4, "older"), _cell_figures(bce["1to2"]))  # other code
    ledger.write_rule("bce", "siren above zero", [("", 4), ("--loss bce", 4)], "c", "h")
    assert cgan_ledger.CellKey("", "1to2", 42, 4, "h").name == "(the default), 1to2, seed 42, 4 candidate(s)"
    cgan_ledger.print_ledger(ledger)
    printed = capsys.readouterr().out
    assert "Rule bce (written " in printed and "before its cells, for the code h): siren above zero" in printed
    assert "pooled over 1to2 seed 42, 2to1 seed 42; 95% intervals over the generated clips" in printed
    assert "--loss bce, 4 candidate(s) - (the default), 4 candidate(s), judged by the GAN-test judge" in printed
    assert "siren          +20.00 [" in printed and "dog_bark       +0.00 [+0.00, +0.00]" in printed
    assert "overall        +10.00 [" in printed
    assert "overall, 1to2 seed 42: +20.00 [" in printed and "overall, 2to1 seed 42: +0.00 [" in printed
    # the cells table: generated, real files, their ratio, the lowest class and its ratio, KID over its floor
    assert "--loss bce                   all      42   4     0.800  1.000   0.80  siren          0.60  1.50x" in printed
    with pytest.raises(ValueError, match="a rule is not changed once its cells run"):
        ledger.write_rule("bce", "overall above zero", [("", 4), ("--loss bce", 4)], "c", "h")
    with pytest.raises(ValueError, match="cell must be one of"):
        cgan_ledger.CellKey("", "3to1", 42, 4, "h")


def test_cgan_ledger_compares_one_trained_recipe_sampled_two_ways_and_an_older_rule_as_sampled_with_four(
    tmp_path, capsys
):
    import cgan_ledger

    ledger = cgan_ledger.Ledger(str(tmp_path))
    for candidates, siren in ((4, 0.8), (1, 0.3)):
        evaluation = _evaluation({"siren": siren, "dog_bark": 1.0})
        ledger.record(cgan_ledger.CellKey("", "1to2", 42, candidates, "h"), _cell_figures(evaluation))
    ledger.write_rule("one", "siren above zero", [("", 4), ("", 1)], "c", "h")
    cgan_ledger.print_ledger(ledger, "one")
    printed = capsys.readouterr().out
    assert "(the default), 1 candidate(s) - (the default), 4 candidate(s)" in printed
    assert "siren          -50.00 [" in printed and "dog_bark       +0.00 [+0.00, +0.00]" in printed
    older = {"name": "older", "rule": "r", "recipes": ["", "--loss bce"]}  # written before candidates were compared
    assert cgan_ledger.rule_variants(older) == [("", 4), ("--loss bce", 4)]


def test_a_recipe_whose_clips_a_new_code_left_as_they_were_is_carried_over_after_a_check_figure_for_figure(
    tmp_path, capsys
):
    import cgan_ledger

    ledger = cgan_ledger.Ledger(str(tmp_path))
    first, second = _evaluation({"siren": 0.2, "dog_bark": 1.0}), _evaluation({"siren": 0.6, "dog_bark": 1.0})
    for cell, evaluation in (("1to2", first), ("2to1", second)):
        ledger.record(cgan_ledger.CellKey("--old", cell, 42, 4, "h0"), _cell_figures(evaluation))
    with pytest.raises(ValueError, match="no cell is recorded both for '' at h1 and for '--old' at h0"):
        ledger.carry_over("", "h1", "--old", "h0")
    ledger.record(cgan_ledger.CellKey("--other", "1to2", 42, 4, "h1"), _cell_figures(second))
    with pytest.raises(ValueError, match="in 1to2 seed 42 with 4 candidate.s., conditional_accuracy/generated/overall"):
        ledger.carry_over("--other", "h1", "--old", "h0")
    rerun = first | {"seconds": {"train": 5.0}, "listening": "/elsewhere/listening.html"}  # time and paths aside
    ledger.record(cgan_ledger.CellKey("", "1to2", 42, 4, "h1"), _cell_figures(rerun))
    assert os.path.basename(ledger.carry_over("", "h1", "--old", "h0")) == "default-h1.json"
    carried = {(c["recipe"], c["cell"]): c.get("carried_from") for c in ledger.cells_at("h1")}
    assert carried == {("--other", "1to2"): None, ("", "1to2"): None, ("", "2to1"): "h0"}
    assert ledger.has(cgan_ledger.CellKey("", "2to1", 42, 4, "h1"))
    assert not ledger.has(cgan_ledger.CellKey("", "2to1", 43, 4, "h1"))
    assert not ledger.has(cgan_ledger.CellKey("--old", "2to1", 42, 4, "h1"))
    assert len(ledger.cells()) == 4  # carried cells are not recorded twice

    ledger.record(cgan_ledger.CellKey("--new", "2to1", 42, 4, "h1"), _cell_figures(first))
    ledger.write_rule("new", "siren above zero", [("", 4), ("--new", 4)], "c", "h1")
    cgan_ledger.print_ledger(ledger, "new")
    printed = capsys.readouterr().out
    assert "(the default) makes the clips --old made at the code h0, figure for figure in 1to2 seed 42" in printed
    assert "pooled over 2to1 seed 42; 95% intervals" in printed and "siren          -40.00 [" in printed


def test_a_cut_short_cgan_benchmark_goes_on_from_its_ledger(tmp_path, monkeypatch, capsys):
    """Cells recorded are never run again; the one a kill cut short is run on the next start."""
    import benchmark_cgan

    (tmp_path / "shared" / "data" / "us8k5").mkdir(parents=True)
    monkeypatch.setattr(benchmark_cgan, "SHARED", str(tmp_path / "shared"))
    ran = []

    def run_cell(key, work, eval_per_class):
        ran.append((key.recipe, key.cell, key.seed))
        if len(ran) == 2:
            raise KeyboardInterrupt
        return _cell_figures(_evaluation({"siren": 0.5, "dog_bark": 1.0}))

    monkeypatch.setattr(benchmark_cgan, "run_cell", run_cell)
    argv = ["--recipe=--epochs 1", "--cells", "1to2,2to1", "--seeds", "1,2", "--results", str(tmp_path / "ledger")]
    with pytest.raises(KeyboardInterrupt):
        benchmark_cgan.main(argv)
    assert len(os.listdir(tmp_path / "ledger")) == 1  # the cell cut short left nothing
    benchmark_cgan.main(argv)
    cells = [("1to2", 1), ("2to1", 1), ("2to1", 1), ("1to2", 2), ("2to1", 2)]
    assert ran == [("--epochs 1", cell, seed) for cell, seed in cells]
    assert "recorded already, not run again: --epochs 1, 1to2, seed 1" in capsys.readouterr().out
    assert len(os.listdir(tmp_path / "ledger")) == 4


def test_a_cgan_cell_of_a_tiny_recipe_is_recorded_with_its_figures_once(demo_root, tmp_path, monkeypatch, capsys):
    import benchmark_cgan
    import cgan_ledger

    (tmp_path / "shared" / "data" / "us8k5").mkdir(parents=True)
    monkeypatch.setattr(benchmark_cgan, "SHARED", str(tmp_path / "shared"))
    monkeypatch.setattr(benchmark_cgan, "fold_competition", lambda cell, out: str(demo_root))
    tiny = "--epochs 1 --width 4 --latent-dim 8 --batch-size 16 --griffin-lim-iters 2 --sample-every 1"
    argv = [f"--recipe={tiny}", "--cells", "all", "--eval-per-class", "2", "--work", str(tmp_path / "work")]
    argv += ["--results", str(tmp_path / "ledger")]
    benchmark_cgan.main(argv)
    (name,) = os.listdir(tmp_path / "ledger")
    record = json.loads((tmp_path / "ledger" / name).read_text())
    assert record["generator"] == cgan_ledger.generator_hash() and name.endswith(f"-{record['generator']}.json")
    assert (record["recipe"], record["cell"], record["seed"], record["candidates"]) == (tiny, "all", 42, 4)
    assert record["commit"].split("+")[0] == cgan_ledger.current_commit().split("+")[0]
    assert record["train_s"] > 0 and record["evaluate_s"] > 0 and 200 < record["peak_rss_mb"] < 8000
    assert record["evaluation"]["gan_test"]["real, the files themselves"]["overall"] >= 0.9
    assert record["evaluation"]["clips"]["generated"] == 10
    printed = capsys.readouterr().out
    assert "recorded: " in printed and "The cells of this benchmark" in printed
    benchmark_cgan.main(argv)
    assert "recorded already, not run again" in capsys.readouterr().out
    assert os.listdir(tmp_path / "ledger") == [name]
    # a cell cut short after its training: the next start evaluates the trained run, it does not train again
    trained = os.path.join(record["run_dir"], "checkpoint", "epoch.json")
    stamp = os.stat(trained).st_mtime_ns
    os.remove(tmp_path / "ledger" / name)
    benchmark_cgan.main(argv)
    assert os.listdir(tmp_path / "ledger") == [name] and os.stat(trained).st_mtime_ns == stamp


def test_the_memorizers_gate_acts_only_where_the_default_is_unsure_and_the_memorizer_sure():
    import benchmark_memorizer

    fold = {
        "test_idx": [0, 1, 2, 3],
        "default": [[0.55, 0.45], [0.9, 0.1], [0.55, 0.45], [0.3, 0.7]],  # unsure and wrong on 0, sure on 1
        "memorizer": [[0.0, 1.0], [0.0, 1.0], [0.15, 0.85], [1.0, 0.0]],  # sure on 0, 1 and 3; not on 2
    }
    labels = np.array([1, 0, 0, 1])
    gate = benchmark_memorizer.Gate(unsure=0.6, sure=0.9)
    assert gate.classes(fold).tolist() == [1, 0, 0, 1]  # clip 3: the default is sure, so it keeps its answer
    assert benchmark_memorizer.Gate(unsure=0.6, sure=0.8).classes(fold).tolist() == [1, 0, 1, 1]
    chosen = benchmark_memorizer.choose_gate([fold], labels)
    assert chosen == benchmark_memorizer.Gate(unsure=0.6, sure=0.99)  # of those with no error, the least acting
    difference = benchmark_memorizer.gate_against_default(chosen, [fold], labels, ["a", "b", "c", "d"])
    assert difference.mean == 0.25


def test_the_memorizer_ends_with_no_step_left_when_its_step_decays_and_names_its_results_by_what_differs():
    import benchmark_memorizer

    x = np.random.default_rng(0).normal(size=(40, 16, 12)).astype(np.float32)
    model = benchmark_memorizer.CnnMemorizer(epochs=2, cosine=True).fit(x, np.arange(40) % 2, 2, seed=0)
    assert int(model.optimizer.iterations) == 4 and float(model.optimizer.learning_rate) == pytest.approx(0.0)
    assert model.predict(x[:3], verbose=0).shape == (3, 2)
    assert benchmark_memorizer.CnnMemorizer().results_name("reused") == "memorizer-reused-25.json"
    named = benchmark_memorizer.CnnMemorizer(50, "global", True).results_name("new")
    assert named == "memorizer-new-50-global-cosine.json"
    assert benchmark_memorizer.RecordingIdentifier().results_name("reused") == "memorizer-reused-recording-c30.json"
    assert benchmark_memorizer.BirdNetMemorizer().results_name("new") == "memorizer-new-birdnet-10.json"


def _memorizer_fold(inputs, labels, groups, test_idx):
    import benchmark_memorizer

    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return benchmark_memorizer.Fold(
        inputs, np.asarray(labels), np.asarray(groups), train_idx, np.asarray(test_idx), 3, 0
    )


def test_the_recording_identifier_gives_each_clip_the_class_of_the_recording_it_is_a_slice_of():
    import benchmark_memorizer

    from freqquest.features.inputs import ClipInputs

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 32)) * 3  # six recordings, two of each class
    groups = np.repeat(np.arange(6), 5)
    labels = np.repeat([0, 0, 1, 1, 2, 2], 5)
    embedding = (centres[groups] + rng.normal(size=(30, 32)) * 0.3).astype(np.float32)
    inputs = ClipInputs(np.zeros((30, 4, 4), np.float32), {"birdnet": embedding})
    test_idx = [0, 12, 29]  # one slice of recordings 0, 2 and 5
    probabilities = benchmark_memorizer.RecordingIdentifier().probabilities(
        _memorizer_fold(inputs, labels, groups, test_idx)
    )
    assert probabilities.shape == (3, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert probabilities.argmax(axis=1).tolist() == [0, 1, 2] and probabilities.max(axis=1).min() > 0.9


def test_the_birdnet_memorizer_fine_tunes_on_every_window_and_averages_a_clips_windows():
    import benchmark_memorizer

    from freqquest.features.embeddings import BirdNetWindows
    from freqquest.features.inputs import ClipInputs
    from freqquest.models.birdnet import segment_input_shape

    memorizer = benchmark_memorizer.BirdNetMemorizer(epochs=1)
    assert set(memorizer.reads()) == {BirdNetWindows.name}
    windows = np.random.default_rng(0).normal(size=(9, 2, *segment_input_shape(memorizer.tune_from)))
    inputs = ClipInputs(np.zeros((9, 4, 4), np.float32), {BirdNetWindows.name: windows.astype(np.float32)})
    probabilities = memorizer.probabilities(_memorizer_fold(inputs, np.arange(9) % 3, np.arange(9), [0, 4]))
    assert probabilities.shape == (2, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
