"""The two kinds of test: a competition whose test set holds random slices of the training
recordings (the reference leaderboard's kind), one that holds whole new recordings, and one of
half each. The pipeline estimates from the audio of the whole test set how much of it is slices
of training recordings, says so, routes them to their recording's class, and validates each kind
the way it is tested."""

import json
import logging
import pathlib

import numpy as np
import pandas as pd
import pytest

import Audio_Classification_Kaggle as cli
from freqquest.blend.reuse import RecordingMatcher, describe_matches
from freqquest.competition.demo import build_demo

from .conftest import needs_birdnet


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kinds")
    return {split: build_demo(folder / split, split=split) for split in ("reused", "new", "half")}


def run(root, folder, *extra):
    out = folder / "submission.csv"
    assert cli.main(["--data", str(root), "--run-dir", str(folder / "run"), "--cache-dir", str(folder.parent / "cache"),
                     "--out", str(out), "--folds", "2", *extra]) == 0  # fmt: skip
    return json.loads((folder / "run" / "summary.json").read_text()), out


def slices_of_training_recordings(root) -> float:
    """The truth: the share of the demo's test clips whose recording has a clip in train."""
    solution = pd.read_csv(f"{root}/solution.csv")
    trained = {path.name.split("-")[0] for path in pathlib.Path(root, "train", "train").glob("*/*.wav")}
    return float(solution["Recording"].astype(str).isin(trained).mean())


@needs_birdnet
def test_the_pipeline_estimates_the_share_of_slices_and_routes_them(demos, tmp_path, caplog):
    """The three kinds of test set (slices of training recordings, new recordings, half of each): the
    share of slices is estimated from the whole test set within 10 points of the truth, said in
    the log and the summary, and the slices take their recording's class."""
    caplog.set_level(logging.INFO)
    summaries, outs = {}, {}
    for split, root in demos.items():
        (tmp_path / split).mkdir()
        summaries[split], outs[split] = run(root, tmp_path / split)
        truth = slices_of_training_recordings(root)
        assert {"reused": truth > 0.9, "new": truth == 0, "half": 0.4 <= truth <= 0.5}[split]
        assert summaries[split]["test_slice_share"] == pytest.approx(truth, abs=0.1), split
        shown = f"about {summaries[split]['test_slice_share']:.0%} of the 30 test clips are slices of training "
        assert shown in caplog.text
    reused = summaries["reused"]
    assert reused["test_matched"] >= 15 and summaries["new"]["test_matched"] <= 3  # of 30 test clips each
    for split in demos:
        solution = pd.read_csv(demos[split] + "/solution.csv").set_index("ID")["Class"]
        submission = pd.read_csv(outs[split]).set_index("ID")["Class"]
        assert (submission == solution.loc[submission.index]).mean() >= 0.9
        assert summaries[split]["val_accuracy"] is not None and summaries[split]["reused_accuracy"] is not None
        matches = pd.read_csv(tmp_path / split / "run" / "test_matches.csv")
        # routed: each clip matched to a training recording took the class of its nearest training clip
        class_of = {
            path.name: path.parent.name for path in pathlib.Path(demos[split], "train", "train").glob("*/*.wav")
        }
        matched = matches[matches["matched"]]
        assert (submission.loc[matched["ID"]].to_numpy() == matched["nearest_training_clip"].map(class_of)).all()
        assert list(matches.columns) == [
            "ID",
            "nearest_training_clip",
            "recording",
            "score",
            "matched",
            "slice_posterior",
        ]
        assert (
            sorted(matches["ID"]) == sorted(solution.index)
            and matches["matched"].sum() == summaries[split]["test_matched"]
        )
        # the share is the mean posterior (expectation-maximization's fixed point)
        assert matches["slice_posterior"].mean() == pytest.approx(summaries[split]["test_slice_share"], abs=1e-3)
        recording = pd.read_csv(demos[split] + "/solution.csv").set_index("ID")["Recording"].astype(str)
        truly = recording.loc[matches["ID"]].to_numpy()
        trained = [path.name.split("-")[0] for path in pathlib.Path(demos[split], "train", "train").glob("*/*.wav")]
        sure = matches["matched"].to_numpy() & np.isin(truly, trained)
        found = matches["recording"].astype(str).to_numpy()
        assert np.mean(found[sure] == truly[sure]) >= 0.9 if sure.any() else split == "new"  # the right recording
    routed = pd.read_csv(tmp_path / "reused" / "run" / "test_probabilities.csv").drop(columns="ID").to_numpy()
    assert np.sum(routed.max(axis=1) == 1.0) >= reused["test_matched"]  # a routed clip: its recording's class, one-hot


@needs_birdnet
def test_without_routing_the_slices_are_still_counted(demos, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    summary, _ = run(demos["reused"], tmp_path, "--no-route-reused", "--pseudo-label", "0")
    assert summary["test_matched"] >= 15 and not summary["routed"]
    assert summary["test_slice_share"] == pytest.approx(slices_of_training_recordings(demos["reused"]), abs=0.1)
    assert "look like slices of one by their own score (they are predicted like the others (no routing)" in caplog.text


def _recordings(rng, n_recordings: int = 6, slices: int = 4, noise: float = 0.1):
    """Recordings of a few slices, each slice its recording's direction plus a little noise."""
    directions = rng.normal(0, 1, (n_recordings, 16))
    rows = np.concatenate([d + rng.normal(0, noise, (slices, 16)) for d in directions])
    return directions, rows, np.repeat([chr(ord("a") + k) for k in range(n_recordings)], slices)


def test_a_slice_is_matched_to_its_recording_and_a_new_recording_is_not():
    """A slice of one recording is matched to it; a new recording halfway between two (about as
    near to one as to the other: Lowe's ratio near 1) is not. The two kinds' scores, as measured on
    the training clips, lie apart, and each clip's posterior says which it is."""
    rng = np.random.default_rng(0)
    directions, rows, recordings = _recordings(rng)
    matcher = RecordingMatcher.fit(rows, np.repeat(np.arange(6) % 3, 4), recordings)
    assert matcher.new_scores.shape == (24,) and matcher.slice_scores.shape == (24,)
    assert matcher.slice_scores.max() < matcher.new_scores.min()
    slice_of_b = directions[1] + rng.normal(0, 0.1, 16)
    new = directions[0] / np.linalg.norm(directions[0]) + directions[2] / np.linalg.norm(directions[2])
    matches = matcher.match(np.stack([slice_of_b, new]))
    assert matches.matched.tolist() == [True, False] and matches.share == pytest.approx(0.5, abs=0.01)
    assert recordings[matches.nearest[0]] == "b" and matches.score[0] < matches.score[1]
    np.testing.assert_array_equal(matcher.predict(matches, 3)[0], [0, 1, 0])
    assert matches.posterior[0] > 0.99 and matches.posterior[1] < 0.01


@pytest.mark.parametrize("truth", [0.0, 0.3, 0.7, 1.0])
def test_the_share_of_slices_is_estimated_from_the_whole_set(truth):
    """Sets of 100 clips, `truth` of them slices of training recordings and the rest new ones: the
    estimated share comes within 5 points, and each clip's posterior says which it is."""
    rng = np.random.default_rng(1)
    directions, rows, recordings = _recordings(rng, n_recordings=30, slices=5, noise=0.5)
    matcher = RecordingMatcher.fit(rows, np.arange(150) % 5, recordings)
    n_slices = int(100 * truth)
    slices = directions[rng.integers(0, 30, n_slices)] + rng.normal(0, 0.5, (n_slices, 16))
    new = rng.normal(0, 1, (100 - n_slices, 16))
    matches = matcher.match(np.concatenate([slices, new]))
    assert matches.share == pytest.approx(truth, abs=0.05)
    assert matches.posterior.shape == (100,) and 0 <= matches.posterior.min() and matches.posterior.max() <= 1
    assert np.mean((matches.posterior > 0.5) == (np.arange(100) < n_slices)) >= 0.85  # the two kinds overlap a little


def test_fewer_than_three_recordings_match_nothing():
    matcher = RecordingMatcher.fit(np.eye(4), [0, 0, 1, 1], ["a", "a", "b", "b"])
    assert matcher.new_scores is None and matcher.slice_scores is None
    matches = matcher.match(np.eye(4))
    assert matches.share is None and not matches.matched.any()
    assert "of the 4 test clips, 0 look like slices of one" in describe_matches(matches, "test", True)
    with pytest.raises(ValueError, match="4 rows, 3 labels and 4 recordings"):
        RecordingMatcher.fit(np.eye(4), [0, 0, 1], ["a", "a", "b", "b"])
