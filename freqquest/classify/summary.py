"""What a run tells a person at its end, and keeps in summary.json."""

import dataclasses
import shlex

import numpy as np

from ..competition.paths import on_kaggle
from ..runs import DEMO_NOTE, PREDICT_COMMAND, SERVE_COMMAND


@dataclasses.dataclass
class RunResult:
    run_dir: str
    submission_path: str
    demo: bool
    val_accuracy: float | None
    fallback_class: str  # what a test ID without a usable clip gets
    skipped_train: dict  # path -> why it was left out (unreadable, too short)
    unreadable_test: dict
    missing_test: list
    # test ID -> what to know of its clip, predicted all the same
    test_notes: dict = dataclasses.field(default_factory=dict)
    fold_accuracies: list = dataclasses.field(default_factory=list)
    member_accuracies: dict = dataclasses.field(default_factory=dict)  # validation accuracy of each blended member
    # the blend's accuracy on new recordings before the set's vote, pseudo-labels and routing
    accuracy_blend_alone: float | None = None
    reused_accuracy: float | None = None  # on random folds over the clips: the leaderboard's kind of test
    test_slice_share: float | None = None  # the share of the test clips estimated to be slices of training recordings
    test_matched: int | None = None  # test clips that look like slices of training recordings by their own score
    routed: bool = False  # whether they took their recording's class
    example_clip: str | None = None  # a readable test clip, for the next commands


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == labels))


def describe_members(accuracies: dict) -> str:
    """Each member's accuracy, e.g. 'network 0.6300, logreg 0.7100'."""
    return ", ".join(f"{name} {value:.4f}" for name, value in accuracies.items())


def format_summary(result: RunResult) -> str:
    lines = ["", "summary" + (" (DEMO on synthetic audio)" if result.demo else "")]
    if result.val_accuracy is not None:
        if len(result.fold_accuracies) > 1:
            per_fold = ", ".join(f"{a:.4f}" for a in result.fold_accuracies)
            lines.append(f"  accuracy on new recordings, out of fold: {result.val_accuracy:.4f} (folds: {per_fold})")
        else:
            lines.append(f"  accuracy on new recordings, one held-out split: {result.val_accuracy:.4f}")
        if result.reused_accuracy is not None:
            lines.append(
                f"  accuracy on reused recordings (random folds, as a random split tests): {result.reused_accuracy:.4f}"
            )
        if result.accuracy_blend_alone is not None and result.accuracy_blend_alone != result.val_accuracy:
            alone = "the blend" if len(result.member_accuracies) != 1 else next(iter(result.member_accuracies))
            before = "no vote, pseudo-labels or routing"
            lines.append(f"  new recordings, {alone} alone ({before}): {result.accuracy_blend_alone:.4f}")
        if len(result.member_accuracies) > 1:
            lines.append("  each blended member alone: " + describe_members(result.member_accuracies))
    if result.test_matched is not None:
        then = "they took their recording's class" if result.routed else "no routing"
        share = (
            f"about {result.test_slice_share:.0%}, estimated from the whole test set; "
            if result.test_slice_share is not None
            else ""
        )
        lines.append(
            f"  test clips that are slices of training recordings: {share}{result.test_matched} look like one by their "
            f"own score ({then})"
        )
    lines.append(f"  run folder:  {result.run_dir}")
    lines.append(f"  submission:  {result.submission_path}")
    if result.skipped_train:
        lines.append(f"  {len(result.skipped_train)} train file(s) skipped:")
        lines += [f"    {p}: {r}" for p, r in result.skipped_train.items()]
    if result.unreadable_test or result.missing_test:
        lines.append(
            f"  {len(result.unreadable_test) + len(result.missing_test)} test ID(s) without a usable clip got the "
            f"fallback class, {result.fallback_class} (the most frequent training class):"
        )
        lines += [f"    {i}: {r}" for i, r in result.unreadable_test.items()]
        lines += [f"    {i}: no such file in test/test" for i in result.missing_test]
    if result.test_notes:
        lines.append(f"  {len(result.test_notes)} test clip(s) predicted with a warning:")
        lines += [f"    {i}: {note}" for i, note in result.test_notes.items()]
    if result.val_accuracy is not None:
        lines += next_commands(result)
    return "\n".join(lines)


def next_commands(result: RunResult) -> list:
    """What to do with the run, ready to paste."""
    run = shlex.quote(result.run_dir)
    predict = PREDICT_COMMAND.format(run_dir=run)
    if result.example_clip:  # a clip of this competition, so that the command runs as printed
        predict = predict.replace("CLIP.wav", shlex.quote(result.example_clip))
    commands = {
        predict: "a clip alone (the submission's rows also weigh the whole test set: the vote, routing)",
        f"{predict} --explain explained/": "and why, as a picture",
        SERVE_COMMAND.format(run_dir=run): "the page, at http://127.0.0.1:8000",
    }
    width = max(map(len, commands))
    lines = ["next:"] + [f"  {command:<{width}}  # {what}" for command, what in commands.items()]
    if result.demo:
        lines.append(f"  ({DEMO_NOTE})")
    if on_kaggle():
        lines.append(f"  on Kaggle: {result.submission_path} is in the notebook's Output tab; submit it from there")
    return lines
