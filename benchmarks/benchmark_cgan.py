#!/usr/bin/env python3
"""The CGAN on real UrbanSound8K clips (../shared/data/us8k5), each cell recorded in the ledger
(benchmarks/cgan_ledger.py, benchmarks/results/cgan/), side by side for each recipe.

  python benchmarks/benchmark_cgan.py                                   # the default, both fold directions
  python benchmarks/benchmark_cgan.py --cells all --seeds 42,43         # all 973 clips, two trainings
  python benchmarks/benchmark_cgan.py --rule 'r1=siren above zero, overall not below' \
      --recipe='' --recipe='--loss bce' --seeds 42,43                   # a decision: its rule first, then its cells

Cells: `1to2` trains on fold 1 and is judged on fold 2 (recordings it never heard), `2to1` the other
way round, `all` trains on the 973 clips with a fifth of the recordings held out for judging. Each
--recipe is options of Audio_Generation_CGAN.py; each cell is a run of that script in its own process
(its seconds and peak memory are its own), evaluated once per --candidates value. A cell the ledger
holds for the same recipe, seed, candidates and generator code is not run again: a benchmark cut
short goes on where it stopped, from a fresh clone. Trained run folders stay under --work, out of
git. Prints each cell, then each recipe against the first, pooled over the cells both have, with
95% intervals over the generated clips: the judging's noise, not the training's, so a difference
that changes sign from one cell to the next is not yet a difference.
"""

import argparse
import datetime
import itertools
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmark_classification import SHARED  # noqa: E402
from cgan_ledger import (  # noqa: E402
    CELLS,
    REPO,
    RESULTS,
    CellKey,
    Ledger,
    current_commit,
    generator_hash,
    print_cells,
    print_comparison,
    print_per_class,
)

import Audio_Generation_CGAN as cli  # noqa: E402
from freqquest.gan.config import GAN_EVAL_PER_CLASS  # noqa: E402

OTHER = {"1to2": "2to1", "2to1": "1to2"}  # the competition whose training clips are the other fold
TRAIN_FOLD = {"1to2": "1", "2to1": "2"}
FORMAT_ZOO = ["--hash-test-ids", "--format-zoo", "0.3", "--corrupt", "3"]  # files as a user's come


def competition_command(cell: str, out: str) -> list:
    """make_competition.py's command for one set of clips: one fold's clips to learn from and the
    other's to test (`1to2`, `2to1`), or all 973 clips to learn from (`all`)."""
    split = (
        ["--test-frac", "0"]
        if cell == "all"
        else ["--train-folds", TRAIN_FOLD[cell], "--test-folds", TRAIN_FOLD[OTHER[cell]]]
    )
    return [
        sys.executable,
        os.path.join(SHARED, "tools", "make_competition.py"),
        "--src",
        os.path.join(SHARED, "data", "us8k5"),
        "--out",
        out,
        *split,
        *FORMAT_ZOO,
    ]


def fold_competition(cell: str, out: str) -> str:
    """The competition of one set of clips, built once in `out`."""
    if not os.path.isfile(os.path.join(out, "solution.csv")):
        subprocess.run(competition_command(cell, out), check=True)
    return out


def cell_competition(cell: str, work: str) -> tuple:
    """(the competition the GAN learns from, the competition that judges it or None: its own held-out recordings)."""
    if cell == "all":
        return fold_competition("all", os.path.join(work, "comp-all")), None
    return (
        fold_competition(cell, os.path.join(work, f"comp-{cell}")),
        fold_competition(OTHER[cell], os.path.join(work, f"comp-{OTHER[cell]}")),
    )


def run_measured(command: list) -> tuple:
    """Runs a command in its own process: (wall seconds, its peak resident memory in MB)."""
    started = time.time()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, command)
    return time.time() - started, usage.ru_maxrss / 1024


TRAINING = "benchmark_training.json"  # in a trained run folder: its training's wall seconds and peak memory


def run_cell(key: CellKey, work: str, eval_per_class: int) -> dict:
    """Trains the cell's run, unless a run of the same recipe, set of clips, seed and generator code
    finished training under `work` before (a benchmark cut short during an evaluation goes on from
    it), and evaluates it: the ledger's figures of the cell."""
    learned, judging = cell_competition(key.cell, work)
    script = os.path.join(REPO, "Audio_Generation_CGAN.py")
    common = ["--cache-dir", os.path.join(work, "cache"), "--eval-per-class", str(eval_per_class)]
    run_dir = os.path.join(work, "runs", CellKey(key.recipe, key.cell, key.seed, 0, key.generator).file_name[:-5])
    trained = os.path.join(run_dir, TRAINING)
    if not os.path.isfile(trained):
        command = [sys.executable, script, "--data", learned, "--run-dir", run_dir, "--seed", str(key.seed),
                   "--no-evaluate", "--overwrite", *common, *shlex.split(key.recipe)]  # fmt: skip
        seconds, memory = run_measured(command + (["--eval-data", judging] if judging else []))
        with open(trained, "w") as f:
            json.dump({"wall_s": seconds, "peak_rss_mb": memory}, f)
    with open(trained) as f:
        training = json.load(f)
    evaluate_wall, evaluate_memory = run_measured(
        [sys.executable, script, "--evaluate", run_dir, "--candidates", str(key.candidates), *common]
    )
    with open(os.path.join(run_dir, "summary.json")) as f:
        train_s = json.load(f)["train_s"]
    with open(os.path.join(run_dir, "evaluation.json")) as f:
        evaluation = json.load(f)
    return {
        "evaluation": evaluation,
        "train_s": train_s,
        "evaluate_s": evaluate_wall,
        # None where the training's was not measured (a run trained before the benchmark measured it)
        "peak_rss_mb": None if training["peak_rss_mb"] is None else max(training["peak_rss_mb"], evaluate_memory),
        "commit": current_commit(),
        "cores": os.cpu_count(),
        "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": run_dir,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--recipe",
        action="append",
        metavar="OPTIONS",
        help="options of Audio_Generation_CGAN.py, as --recipe='--epochs 50' (repeatable; default: one, '')",
    )
    p.add_argument("--cells", default="1to2,2to1", help=f"comma-separated, of {', '.join(CELLS)} (default 1to2,2to1)")
    p.add_argument(
        "--candidates", help="comma-separated sampling candidates to evaluate each run with (default: the recipe's)"
    )
    p.add_argument(
        "--seeds", help="comma-separated training seeds, each recipe trained once per seed (default: the recipe's)"
    )
    p.add_argument(
        "--rule", metavar="NAME=TEXT", help="the decision rule these cells serve, written to the ledger before they run"
    )
    p.add_argument("--eval-per-class", type=int, default=GAN_EVAL_PER_CLASS)
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "freqquest-benchmark"))
    p.add_argument("--results", default=RESULTS, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if not os.path.isdir(os.path.join(SHARED, "data", "us8k5")):
        sys.exit("needs ../shared/data/us8k5 beside the repository")
    cells = a.cells.split(",")
    keys = list(cell_keys(a.recipe or [""], cells, a.seeds, a.candidates))
    ledger = Ledger(a.results)
    if a.rule:
        name, text = a.rule.split("=", 1)
        variants = list(dict.fromkeys((k.recipe, k.candidates) for k in keys))
        print(
            f"the rule, before its cells: {ledger.write_rule(name, text, variants, current_commit(), generator_hash())}"
        )
    for key in keys:
        if ledger.has(key):
            source = ledger.path(key) if os.path.isfile(ledger.path(key)) else "carried over from an earlier code"
            print(f"recorded already, not run again: {key.name} ({source})", flush=True)
            continue
        print(f"running {key.name}", flush=True)
        print(f"recorded: {ledger.record(key, run_cell(key, a.work, a.eval_per_class))}", flush=True)
    recorded = [cell for cell in ledger.cells_at(generator_hash()) if CellKey.of(cell) in keys]
    print(f"\nThe cells of this benchmark ({os.cpu_count()} cores here)")
    print_cells(recorded, "gan_test")
    print_per_class(recorded, "gan_test")
    variants = list(dict.fromkeys((k.recipe, k.candidates) for k in keys))
    if len(variants) > 1:
        print("\nEach recipe and sampling against the first:")
        print_comparison(recorded, variants, "gan_test")


def cell_keys(recipes: list, cells: list, seeds: str | None, candidates: str | None):
    """The cells of every recipe, set of clips, seed and candidates asked for, each named by the generator's code."""
    generator = generator_hash()
    for options in recipes:
        config = cli.gan_config(cli.parse_args(shlex.split(options)))
        for seed, cell in itertools.product([int(s) for s in seeds.split(",")] if seeds else [config.seed], cells):
            for c in [int(c) for c in candidates.split(",")] if candidates else [config.candidates]:
                yield CellKey(options, cell, seed, c, generator)


if __name__ == "__main__":
    main()
