import dataclasses
import os

import pytest

import Audio_Classification_Kaggle as cli
import Audio_Generation_CGAN as gan_cli
from freqquest.arguments import ArgumentParser, field_type
from freqquest.classify.flags import AUDIO_FLAGS, TRAIN_FLAGS, notebook_recipe
from freqquest.config import AudioConfig, TrainConfig, preset_config
from freqquest.gan.config import GanConfig, gan_preset_config
from freqquest.gan.flags import GAN_FLAGS, notebook_gan_config


@pytest.mark.parametrize(
    "given, meant",
    [("--learning_rate", "--learning-rate"), ("--Pseudo-Label", "--pseudo-label"), ("--run-dri", "--run-dir")],
)
def test_a_misspelt_option_is_answered_with_the_right_one_in_a_line(given, meant, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.parse_args([given, "0.1"])
    printed = capsys.readouterr().err.splitlines()
    assert stop.value.code == 2 and printed[0].endswith(f"error: no option {given}: did you mean {meant}?")
    assert len(printed) == 2 and "--help` lists every option" in printed[1]  # not the whole usage


def test_an_option_like_none_is_named_without_a_guess_and_other_errors_keep_argparses_words(capsys):
    with pytest.raises(SystemExit):
        gan_cli.parse_args(["--xyzzy"])
    assert "error: no option --xyzzy\n" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gan_cli.parse_args(["--steps", "many"])
    assert "argument --steps: invalid int value: 'many'" in capsys.readouterr().err
    parser = ArgumentParser(prog="p")
    parser.add_argument("--top-k")
    assert parser.nearest_option("--top_k") == "--top-k" and parser.nearest_option("--zzz") is None


@pytest.mark.parametrize(
    "command, answer",
    [
        (["Audio_Classification_Kaggle.py", "--data", "NO"], "error: --data: NO does not exist"),
        (["Audio_Generation_CGAN.py", "--data", "NO"], "error: --data: NO does not exist"),
        (["-m", "freqquest.predict", "NO", "clip.wav"], "error: NO does not exist"),
        (["-m", "freqquest.serve", "NO"], "error: NO does not exist"),
        (["-m", "freqquest.export", "NO", "--int8", "x.tflite"], "error: NO does not exist"),
    ],
)
def test_a_wrong_folder_is_answered_before_anything_heavy_is_imported(tmp_path, command, answer):
    """Under a second of CPU, and neither pandas, scikit-learn, librosa nor TensorFlow imported."""
    import resource
    import subprocess
    import sys

    from .conftest import REPO

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *(str(tmp_path / "no") if a == "NO" else a for a in command)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 2 and answer.replace("NO", str(tmp_path / "no")) in done.stderr
    assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) < 1.0
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"pandas", "sklearn", "tensorflow", "librosa", "keras"}
    assert "freqquest.arguments" in imported  # the measure reads the script's own imports


def test_a_run_says_something_within_a_second_of_cpu(demo_root, tmp_path):
    """The imports that take seconds come after a first line, so a run is never silent at its start."""
    import subprocess
    import sys

    from .conftest import REPO

    run = subprocess.Popen(
        [sys.executable, str(REPO / "Audio_Classification_Kaggle.py"), "--data", str(demo_root), "--run-dir",
         str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "s.csv")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        first = run.stdout.readline()
        with open(f"/proc/{run.pid}/stat") as f:
            ticks = sum(int(t) for t in f.read().rsplit(")", 1)[1].split()[11:13])
    finally:
        run.kill()
        run.wait()
    assert first == "loading the pipeline (NumPy, scikit-learn, TensorFlow: a few seconds)\n"
    assert ticks / os.sysconf("SC_CLK_TCK") < 1.0


def another_value(config, field: str, kind: type, flag):
    """A value for `field` that its config does not already hold, as typed on a command line and as read."""
    value = getattr(config, field)
    if kind is bool:
        return [flag.option(field).replace("--", "--no-" if value else "--", 1)], not value
    if flag.choices:
        other = next(choice for choice in flag.choices if choice != value)
        return [flag.option(field), other], other
    if field in ("blend", "embeddings"):
        other = {"blend": "logreg", "embeddings": "birdnet"}[field]
        return [flag.option(field), other], other
    if field == "weights":
        return ["--model", "efficientnetv2b0", "--weights", "imagenet"], "imagenet"
    other = {int: (value or 2) + 1, float: (value or 0.8) / 2}[kind]
    return [flag.option(field), str(other)], other


# The fields no option sets: each is the preset's alone. A new field is an option, or is added here on purpose.
PRESETS_ALONE = {
    TrainConfig: {"weight_decay", "warmup_epochs", "early_stopping_patience", "reduce_lr_patience",
                  "time_mask_width", "freq_mask_width", "preset"},
    GanConfig: {"beta_1", "beta_2", "gp_weight", "db_range"},
    AudioConfig: {"sample_rate", "duration", "n_fft", "hop_length", "n_mels", "fmin", "fmax"},
}  # fmt: skip
SCRIPTS = [
    (TrainConfig, TRAIN_FLAGS, ["--preset", "scratch"], lambda args: cli.options_from_args(args).train),
    (AudioConfig, AUDIO_FLAGS, [], lambda args: cli.options_from_args(args).audio),
    (GanConfig, GAN_FLAGS, [], gan_cli.gan_config),
]
NOTEBOOKS = {
    TrainConfig: lambda recipe: notebook_recipe(recipe)[1],
    AudioConfig: lambda recipe: notebook_recipe(recipe)[0],
    GanConfig: lambda recipe: notebook_gan_config(recipe, "cpu"),
}


@pytest.mark.parametrize("cls, flags, base, config_of", SCRIPTS, ids=["train", "audio", "gan"])
def test_every_option_sets_its_field_and_every_field_is_an_option_or_the_presets_alone(cls, flags, base, config_of):
    """The options come from the config's fields: none names a field that is not there, each sets its own."""
    fields = {f.name for f in dataclasses.fields(cls)}
    assert set(flags) <= fields and fields - set(flags) == PRESETS_ALONE[cls]
    before = config_of(cli.parse_args(base) if cls is not GanConfig else gan_cli.parse_args(base))
    for field, flag in flags.items():
        argv, expected = another_value(before, field, field_type(cls, field), flag)
        parse = gan_cli.parse_args if cls is GanConfig else cli.parse_args
        after = config_of(parse(base + argv))
        assert getattr(after, field) == expected, field
        assert getattr(before, field) != expected, field


@pytest.mark.parametrize("cls, flags, base, config_of", SCRIPTS, ids=["train", "audio", "gan"])
def test_a_notebooks_recipe_sets_each_field_as_the_command_line_does(cls, flags, base, config_of):
    parse = gan_cli.parse_args if cls is GanConfig else cli.parse_args
    for field, flag in flags.items():
        argv, expected = another_value(config_of(parse(base)), field, field_type(cls, field), flag)
        from_notebook = NOTEBOOKS[cls](" ".join(base + argv))
        assert from_notebook == config_of(parse(base + argv)) and getattr(from_notebook, field) == expected, field


def test_a_notebooks_recipe_refuses_a_wrong_option_or_value_with_a_value_error():
    with pytest.raises(ValueError, match=r"^RECIPE: error: no option --epoks: did you mean --epochs\?$"):
        notebook_recipe("--epoks 3")
    with pytest.raises(ValueError, match="argument --epochs: invalid int value: 'many'"):
        notebook_recipe("--epochs many")
    with pytest.raises(ValueError, match="blend must name distinct models"):
        notebook_recipe("--blend logreg,logreg")
    assert notebook_recipe("") == (AudioConfig(), preset_config("default"))
    assert notebook_gan_config("", "gpu") == gan_preset_config("gpu")
    assert notebook_gan_config("--preset cpu --steps 7", "gpu") == gan_preset_config("cpu", steps=7)


def changes_refused(capsys) -> list:
    """The options a --resume refused, as its message names them."""
    return capsys.readouterr().err.split("; ", 1)[1].split(" would change that run")[0].split(", ")


def test_a_resumed_run_refuses_every_option_of_its_recipe_named_as_typed(capsys):
    """--resume refuses each option that would change the run, named as the option is (--mixup, not the field)."""
    for field, flag in TRAIN_FLAGS.items():
        argv, _ = another_value(preset_config("scratch"), field, field_type(TrainConfig, field), flag)
        with pytest.raises(SystemExit):
            cli.parse_args(["--resume", "runs/x", *argv])
        assert flag.option(field) in changes_refused(capsys), field
    with pytest.raises(SystemExit):
        cli.parse_args(
            ["--resume", "runs/x", "--mixup", "0.2", "--fit-mode", "pad", "--predict-only", "--model-path", "r"]
        )
    assert changes_refused(capsys) == ["--mixup", "--fit-mode", "--predict-only"]
