"""python -m freqquest.predict: any clip predicted as the run's submission predicts it, long ones in
windows, and explained (Grad-CAM and feature maps of a network; occlusion without one)."""

import json
import shutil

import keras
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from freqquest import predict
from freqquest.models import build_model, explained_blocks
from freqquest.serving import explain, explanation_figure
from freqquest.serving.explain import NetworkProbe
from freqquest.serving.predictor import Predictor

from .conftest import write_tone

CLASSES = ["dog_bark", "drilling", "engine_idling", "siren", "street_music"]


def clips_of(root) -> list:
    return sorted((root / "test" / "test").iterdir())


@pytest.mark.parametrize("fixture", ["scratch_run", "birdnet_run"])
def test_a_test_clip_gets_the_probabilities_of_the_submission(fixture, request, lowrate_demo, demo_root):
    """Before the recording vote (these runs have none): the fold networks over their two views, the
    members refitted on every clip, the 8 kHz clips judged by the matched logreg and svm."""
    run = request.getfixturevalue(fixture)
    root = lowrate_demo if fixture == "scratch_run" else demo_root
    expected = pd.read_csv(run / "test_probabilities.csv").set_index("ID")
    predictor = Predictor(run)
    clips = clips_of(root)[:2] + clips_of(root)[-2:]  # the scratch run's first three are at 8 kHz
    for path in clips:
        prediction = predictor.predict(path)
        assert len(prediction.starts) == 1 and prediction.shown == "the blend"
        np.testing.assert_allclose(prediction.probabilities, expected.loc[path.name, CLASSES].to_numpy(), atol=2e-5)
        assert prediction.notes == []  # the row is what the clip alone gets: nothing to explain
    if fixture == "scratch_run":
        assert [sorted(m.matched) for m in predictor.blend.matchable()] == [[8000], [8000]]
        assert predictor.predict(clips[0]).sample_rate == 8000


def test_a_test_clip_whose_submission_row_differs_says_what_the_row_is_and_why(birdnet_run, demo_root, tmp_path):
    """The row weighs the rest of the test set: a clip heard alone can differ from it, and says so once."""
    run = tmp_path / "run"
    shutil.copytree(birdnet_run, run)
    path = clips_of(demo_root)[0]
    alone = Predictor(run).predict(path)
    other = CLASSES[(alone.top + 1) % len(CLASSES)]
    table = pd.read_csv(run / "test_probabilities.csv").set_index("ID")
    table.loc[path.name, CLASSES] = [float(c == other) for c in CLASSES]
    table.to_csv(run / "test_probabilities.csv")
    (voted,) = Predictor(run).predict(path).notes
    assert voted == (
        f"the submission's row for {path.name} is {other} 1.00: the recording vote and the pseudo-labels weigh it "
        "with the rest of the test set (here the clip is heard alone)"
    )
    config = json.loads((run / "config.json").read_text())
    config["train"]["route_reused"] = True
    (run / "config.json").write_text(json.dumps(config))
    matches = pd.read_csv(run / "test_matches.csv").set_index("ID")
    matches.loc[path.name, ["recording", "nearest_training_clip", "matched"]] = [9001, "9001-1-0-2.wav", True]
    matches.to_csv(run / "test_matches.csv")
    (routed,) = Predictor(run).predict(path).notes
    assert routed.startswith(f"the submission's row for {path.name} is {other} 1.00: the clip sounds like a slice of ")
    assert (
        "training recording 9001 (its nearest training clip 9001-1-0-2.wav) and takes that recording's class" in routed
    )
    elsewhere = tmp_path / path.name  # the same name outside the competition's test folder: another clip
    shutil.copy(path, elsewhere)
    assert Predictor(run).predict(elsewhere).notes == []


def test_one_member_alone(scratch_run, lowrate_demo):
    predictor = Predictor(scratch_run)
    path = clips_of(lowrate_demo)[5]
    blend = predictor.predict(path)
    alone = predictor.predict(path, member="network")
    np.testing.assert_allclose(alone.probabilities, blend.members["network"][0], rtol=1e-6)
    assert alone.shown == "network" and set(blend.members) == {"network", "logreg", "svm"}
    np.testing.assert_allclose(
        blend.probabilities, np.mean([blend.members[m][0] for m in blend.members], axis=0), rtol=1e-5
    )
    with pytest.raises(ValueError, match="has no member 'birdnet'"):
        predictor.predict(path, member="birdnet")


def test_a_long_clip_is_scored_in_windows(birdnet_run, tmp_path):
    """10 s at 44.1 kHz, stereo: windows of 4 s, 2 s apart, the last one ending with the clip; each
    window's probabilities are those of the same 4 s written as a file of its own."""
    rng = np.random.default_rng(0)
    t = np.arange(10 * 44100) / 44100
    tone = 0.3 * np.sin(2 * np.pi * (800 + 300 * np.sin(2 * np.pi * 0.5 * t)) * t)
    long = np.stack([tone + 0.05 * rng.standard_normal(len(t)), tone], axis=1).astype(np.float32)
    sf.write(tmp_path / "long.wav", long, 44100, subtype="PCM_16")
    predictor = Predictor(birdnet_run)
    prediction = predictor.predict(tmp_path / "long.wav")
    np.testing.assert_allclose(prediction.starts, [0, 2, 4, 6])
    assert prediction.windows.shape == (4, 5) and prediction.seconds == pytest.approx(10.0)
    np.testing.assert_allclose(prediction.probabilities, prediction.windows.mean(axis=0), rtol=1e-6)
    assert prediction.deciding_window == int(prediction.windows[:, prediction.top].argmax())
    written, _ = sf.read(tmp_path / "long.wav", dtype="float32")
    sf.write(tmp_path / "third.wav", written[4 * 44100 : 8 * 44100], 44100, subtype="FLOAT")
    np.testing.assert_allclose(
        predictor.predict(tmp_path / "third.wav").probabilities, prediction.windows[2], atol=1e-4
    )
    assert len(predictor.predict(tmp_path / "long.wav", hop=1.0).starts) == 7


def test_the_command_line_prints_a_table_or_json_and_refuses_what_it_cannot_read(birdnet_run, tmp_path, capsys, caplog):
    clip = write_tone(tmp_path / "tone.mp3", rate=22050, seconds=1.0, subtype="MPEG_LAYER_III", fmt="MP3")
    assert predict.main([str(birdnet_run), str(clip), "--top-k", "3"]) == 0
    table = capsys.readouterr().out
    assert table.startswith(f"{clip}: 1.0") and "(the blend)" in table and len(table.strip().splitlines()) == 4
    assert predict.main([str(birdnet_run), str(clip), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert [len(a["top"]) for a in answer] == [5] and answer[0]["deciding_window"] == 0
    assert sum(a["probability"] for a in answer[0]["top"]) == pytest.approx(1.0, abs=1e-4)
    (tmp_path / "bad.wav").write_text("not audio")
    assert predict.main([str(birdnet_run), str(tmp_path / "bad.wav")]) == 2
    assert "bad.wav: not decodable as audio" in caplog.text


def test_several_clips_go_on_past_a_bad_one_and_a_silent_or_nan_clip_is_named(birdnet_run, tmp_path, capsys, caplog):
    good = write_tone(tmp_path / "tone.wav", rate=22050, seconds=1.0)
    (tmp_path / "bad.wav").write_text("not audio")
    folder = tmp_path / "clips"
    folder.mkdir()
    silent, nan = tmp_path / "silent.wav", tmp_path / "nan.wav"
    sf.write(str(silent), np.zeros(22050, np.float32), 22050, subtype="FLOAT")
    sf.write(str(nan), np.full(22050, np.nan, np.float32), 22050, subtype="FLOAT")
    clips = [str(p) for p in (tmp_path / "bad.wav", folder, tmp_path / "none.wav", good, silent, nan)]
    assert predict.main([str(birdnet_run), *clips, "--json"]) == 2
    answers = json.loads(capsys.readouterr().out)
    assert [a.get("error", "")[:20] for a in answers[:3]] == [
        f"{tmp_path}/bad.wav: not decodable"[:20],
        f"{folder} is a folder, not a clip"[:20],
        f"{tmp_path}/none.wav: no such file"[:20],
    ]
    assert f"{folder} is a folder, not a clip: give its files (for example {folder}/*.wav)" in caplog.text
    assert [len(a["top"]) for a in answers[3:]] == [5, 5, 5] and answers[3]["notes"] == []  # the next ones predicted
    assert (
        answers[4]["notes"]
        == answers[5]["notes"]
        == ["the clip is silent (no sample is a number other than 0): its class is a guess"]
    )
    assert f"3 of 6 clips could not be predicted: {clips[0]}, {clips[1]}, {clips[2]}" in caplog.text


def test_an_incomplete_run_is_refused(birdnet_run, tmp_path):
    incomplete = tmp_path / "run"
    incomplete.mkdir()
    (incomplete / "config.json").write_text((birdnet_run / "config.json").read_text())
    with pytest.raises(ValueError, match="is incomplete"):
        Predictor(incomplete)


# -- explaining --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cnn", "resnet", "efficientnetv2b0"])
def test_grad_cam_and_feature_maps_of_every_architecture(name):
    model = build_model(name, (64, 87), 5, **({} if name == "efficientnetv2b0" else {"width": 8}))
    x = np.random.default_rng(1).normal(-40, 10, (64, 87)).astype(np.float32)
    probe = NetworkProbe(model)
    cam = probe.grad_cam(x, 2)
    assert cam.shape == (64, 87) and cam.dtype == np.float32
    assert cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    maps = probe.feature_maps(x, 2)
    assert len(maps) == 3 and all(m.shape[0] == explain.FEATURE_CHANNELS and m.ndim == 3 for m in maps.values())
    assert list(maps)[-1] == explained_blocks(model)[-1][1].name


def test_a_model_saved_under_mixed_precision_explains_on_a_cpu(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model("cnn", (64, 87), 5, width=8)
        model.save(tmp_path / "mixed.keras")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    loaded = keras.models.load_model(tmp_path / "mixed.keras")
    assert {layer.dtype_policy.name for layer in loaded.layers if isinstance(layer, keras.layers.Conv2D)} == {
        "mixed_float16"
    }
    cam = NetworkProbe(loaded).grad_cam(np.random.default_rng(2).normal(-40, 10, (64, 87)).astype(np.float32), 0)
    assert cam.dtype == np.float32 and np.isfinite(cam).all() and cam.max() == pytest.approx(1.0)


@pytest.mark.parametrize("fixture,kind", [("scratch_run", "grad-cam"), ("birdnet_run", "integrated gradients")])
def test_explain_writes_a_figure_per_clip(fixture, kind, request, demo_root, tmp_path, capsys):
    run = request.getfixturevalue(fixture)
    clip = clips_of(demo_root)[4]
    out = tmp_path / "explained"
    assert predict.main([str(run), str(clip), "--explain", str(out)]) == 0
    figure = out / (clip.stem + ".png")
    assert figure.is_file() and figure.stat().st_size > 20_000
    assert f"  explained: {figure}" in capsys.readouterr().out  # beside its clip's answer, on stdout
    predictor = Predictor(run)
    e = explain.explain(predictor, predictor.predict(clip))
    if kind == "grad-cam":
        assert e.spectrogram.shape == (128, 173) and e.title == "log-Mel, the window that decided (0.00-4.00 s)"
        assert e.band_hz.shape == (128,) and np.all(np.diff(e.band_hz) > 0)
        assert e.heatmap.shape == (128, 173) and e.occlusion is None and len(e.feature_maps) == 3
        assert "Grad-CAM of the network member (2 fold networks averaged); the run blends it with logreg, svm" in e.note
    else:
        assert e.spectrogram.shape == e.heatmap.shape == (96, 511) and e.occlusion is None
        # the 3 s BirdNET heard best, named with the 4 s window it lies in, in seconds of the clip
        start, end = e.explained_span
        explained = f"the 3 s explained ({start:.2f}-{end:.2f} s)"
        assert e.title == f"BirdNET's spectrogram, {explained} of the window that decided (0.00-4.00 s)"
        assert 0.0 <= start and end <= 4.0 and end - start == pytest.approx(3.0)
        assert e.note.startswith("integrated gradients: where ") and e.band_hz.shape == (96,)


def test_the_figure_of_a_long_clip_has_its_timeline(birdnet_run, tmp_path, monkeypatch):
    y = (0.3 * np.sin(2 * np.pi * 600 * np.arange(7 * 22050) / 22050)).astype(np.float32)
    sf.write(tmp_path / "seven.wav", y, 22050)
    predictor = Predictor(birdnet_run)
    figures = []
    monkeypatch.setattr(explanation_figure, "save_figure", lambda fig, path, tight: figures.append(fig))
    explanation_figure.plot_explanation(
        explain.explain(predictor, predictor.predict(tmp_path / "seven.wav")), tmp_path / "seven.png"
    )
    axes = figures[0].axes
    assert any(ax.get_title().startswith("each window") for ax in axes)
    assert "time (s)" in {ax.get_xlabel() for ax in axes} and any(ax.get_ylabel() == "frequency (Hz)" for ax in axes)
    assert figures[0].get_suptitle() == ""
    explanation_figure.plot_explanation(
        explain.explain(predictor, predictor.predict(tmp_path / "seven.wav")), tmp_path / "seven.png", demo=True
    )
    assert figures[1].get_suptitle() == "a model of the synthetic demo: its answers on real recordings mean nothing"


def test_a_folder_of_runs_names_its_newest_finished_run_and_the_command(scratch_run, demo_root, capsys):
    clip = clips_of(demo_root)[0]
    assert predict.main([str(scratch_run.parent), str(clip)]) == 2
    error = capsys.readouterr().err
    assert f"{scratch_run.parent} holds runs, it is not one: the newest finished run in it is {scratch_run}" in error
    assert f"use it with: python -m freqquest.predict {scratch_run} CLIP.wav" in error
    assert "--resume" not in error
