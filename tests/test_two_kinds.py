"""The two kinds of test: a competition whose test set holds random slices of the training
recordings (the reference leaderboard's kind) and one that holds whole new recordings. The
pipeline tells them apart from the audio, says so, routes the slices of training recordings to
their recording's class, and validates each kind the way it is tested."""

import json
import logging

import numpy as np
import pandas as pd
import pytest

import Audio_Classification_Kaggle as cli
from freqquest.blend.reuse import RecordingMatcher
from freqquest.competition.demo import build_demo

from .conftest import needs_birdnet


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kinds")
    return {split: build_demo(folder / split, split=split) for split in ("reused", "new")}


def run(root, folder, *extra):
    out = folder / "submission.csv"
    assert cli.main(["--data", str(root), "--run-dir", str(folder / "run"), "--cache-dir", str(folder.parent / "cache"),
                     "--out", str(out), "--folds", "2", *extra]) == 0  # fmt: skip
    return json.loads((folder / "run" / "summary.json").read_text()), out


@needs_birdnet
def test_the_pipeline_tells_the_kinds_apart_and_routes_the_reused_slices(demos, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    summaries, outs = {}, {}
    for split, root in demos.items():
        (tmp_path / split).mkdir()
        summaries[split], outs[split] = run(root, tmp_path / split)
    reused, new = summaries["reused"], summaries["new"]
    assert reused["test_matched"] >= 10 and new["test_matched"] <= 3  # of 30 test clips each
    assert reused["routed"] and new["routed"]
    assert f"{reused['test_matched']} of 30 test clips look like slices of training recordings" in caplog.text
    for split in demos:
        solution = pd.read_csv(demos[split] + "/solution.csv").set_index("ID")["Class"]
        submission = pd.read_csv(outs[split]).set_index("ID")["Class"]
        assert (submission == solution.loc[submission.index]).mean() >= 0.9
        assert summaries[split]["val_accuracy"] is not None and summaries[split]["reused_accuracy"] is not None
    routed = pd.read_csv(tmp_path / "reused" / "run" / "test_probabilities.csv").drop(columns="ID").to_numpy()
    assert np.sum(routed.max(axis=1) == 1.0) >= reused["test_matched"]  # a routed clip: its recording's class, one-hot


@needs_birdnet
def test_without_routing_the_slices_are_still_counted(demos, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    summary, _ = run(demos["reused"], tmp_path, "--no-route-reused", "--pseudo-label", "0")
    assert summary["test_matched"] >= 10 and not summary["routed"]
    assert "look like slices of training recordings (they are predicted like the others (no routing)" in caplog.text


def test_a_slice_is_matched_to_its_recording_and_a_new_recording_is_not():
    """Six recordings of 4 slices, each slice its recording's direction plus a little noise. A slice
    of one is matched to it; a new recording halfway between two (about as near to one as to the
    other: Lowe's ratio near 1) is not."""
    rng = np.random.default_rng(0)
    directions = rng.normal(0, 1, (6, 16))
    rows = np.concatenate([d + rng.normal(0, 0.1, (4, 16)) for d in directions])
    recordings = np.repeat(list("abcdef"), 4)
    matcher = RecordingMatcher.fit(rows, np.repeat(np.arange(6) % 3, 4), recordings)
    assert matcher.threshold is not None and 0 < matcher.threshold < 1
    slice_of_b = directions[1] + rng.normal(0, 0.1, 16)
    new = directions[0] / np.linalg.norm(directions[0]) + directions[2] / np.linalg.norm(directions[2])
    matches = matcher.match(np.stack([slice_of_b, new]))
    assert matches.matched.tolist() == [True, False]
    assert recordings[matches.nearest[0]] == "b" and matches.score[0] < matcher.threshold < matches.score[1]
    np.testing.assert_array_equal(matcher.predict(matches, 3)[0], [0, 1, 0])


def test_fewer_than_three_recordings_match_nothing():
    matcher = RecordingMatcher.fit(np.eye(4), [0, 0, 1, 1], ["a", "a", "b", "b"])
    assert matcher.threshold is None and not matcher.match(np.eye(4)).matched.any()
    with pytest.raises(ValueError, match="4 rows, 3 labels and 4 recordings"):
        RecordingMatcher.fit(np.eye(4), [0, 0, 1], ["a", "a", "b", "b"])
