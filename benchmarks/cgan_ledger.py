#!/usr/bin/env python3
"""The CGAN's ledger: every benchmark cell's figures, kept in the repository, and the lab notebook's
tables printed from it.

  python benchmarks/cgan_ledger.py                 # every cell, then each decision rule's comparison
  python benchmarks/cgan_ledger.py --rule siren-r1 # one rule's

A cell is one training of one recipe (the options of Audio_Generation_CGAN.py) on one set of clips
(`1to2`: trained on fold 1, judged on fold 2; `2to1`; `all`: the 973 clips with a fifth of the
recordings held out) with one seed, evaluated with one number of sampling candidates. Its file under
benchmarks/results/cgan/ holds the evaluation's JSON, the seconds and peak memory, the commit and
the hash of the code that makes the clips; a cell is recorded once per hash, so a benchmark cut short
goes on from a fresh clone. A decision rule (rules/<name>.json) is written before its cells run,
and names the recipes it compares and the generator's hash it was written at: its comparison pools
every recorded cell of those recipes at that hash (a recipe's meaning changes with the code).

A change of code may leave a recipe's clips as they were (a new option, off by default). Then

  python benchmarks/cgan_ledger.py --carry-over --recipe='' \\
      --earlier-recipe='--no-half-resolution --steps 1200' --earlier-generator 6821934d2e09e895

checks every cell recorded for both, the recipe at today's code and the earlier one at its code, figure
for figure (seconds and paths aside), refuses on the first that differs, and records the carry-over
(carried/): the earlier recipe's other cells then count as this recipe's at today's code, marked as
carried, so one cell run again stands for the rest. Name the code where the cells were recorded: a
carried cell is not carried again.

The goals read the GAN-test judge (the pipeline's default member fitted on the GAN's own training
files; gan/evaluation.py); the cells recorded before it existed have only the held-out judge, and
the tables say so.
"""

import argparse
import dataclasses
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from freqquest.gan.config import GanConfig  # noqa: E402
from freqquest.intervals import independent_difference  # noqa: E402
from freqquest.io import write_text_atomic  # noqa: E402

RESULTS = os.path.join(REPO, "benchmarks", "results", "cgan")
NOT_FIGURES = ("seconds", "listening")  # what differs between two runs of the same clips: time and paths
# what makes the generated clips: the recipe, the networks, training, the scale and inversion, sampling,
# the audio config (the evaluation's code is not in it: a cell judged by an older evaluation says so itself)
GENERATOR_FILES = (
    "freqquest/config.py",
    "freqquest/gan/config.py",
    "freqquest/gan/model.py",
    "freqquest/gan/training.py",
    "freqquest/gan/inversion.py",
    "freqquest/gan/samples.py",
)
CELLS = ("1to2", "2to1", "all")
JUDGES = {
    "gan_test": "the GAN-test judge (fitted on the GAN's own training files)",
    "held_out": "the held-out judge (cross-fitted on recordings the GAN never heard)",
}


def generator_hash(repo: str = REPO) -> str:
    digest = hashlib.sha256()
    for name in GENERATOR_FILES:
        with open(os.path.join(repo, name), "rb") as f:
            digest.update(name.encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()[:16]


def current_commit(repo: str = REPO) -> str:
    """The commit checked out, with '+changes' when the generator's files differ from it."""

    def git(*args):
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--", *GENERATOR_FILES) else "")


def recipe_slug(recipe: str) -> str:
    """The recipe as a file name's part."""
    return re.sub(r"[^A-Za-z0-9.]+", "_", recipe).strip("_") or "default"


@dataclasses.dataclass(frozen=True)
class CellKey:
    """What a cell is: a recipe's training on one set of clips with one seed, sampled with `candidates`."""

    recipe: str
    cell: str
    seed: int
    candidates: int
    generator: str

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")

    @classmethod
    def of(cls, record: dict) -> "CellKey":
        return cls(*(record[field.name] for field in dataclasses.fields(cls)))

    @property
    def file_name(self) -> str:
        return f"{recipe_slug(self.recipe)}-{self.cell}-seed{self.seed}-c{self.candidates}-{self.generator}.json"

    @property
    def name(self) -> str:
        return f"{self.recipe or '(the default)'}, {self.cell}, seed {self.seed}, {self.candidates} candidate(s)"


class Ledger:
    """The cell files and rule files under one folder."""

    def __init__(self, folder: str = RESULTS):
        self.folder = folder

    def path(self, key: CellKey) -> str:
        return os.path.join(self.folder, key.file_name)

    def has(self, key: CellKey) -> bool:
        """Recorded, or carried over from an earlier code."""
        return key in {CellKey.of(cell) for cell in self.cells_at(key.generator)}

    def record(self, key: CellKey, figures: dict) -> str:
        """Writes the cell (atomically: a cell cut short leaves no file) and returns its path."""
        path = self.path(key)
        write_json(path, dataclasses.asdict(key) | figures, sort_keys=True)
        return path

    def cells(self) -> list:
        return read_json_files(self.folder)

    def cells_at(self, generator: str) -> list:
        """The cells recorded at the code `generator`, then those carried over to it, each marked
        `carried_from` (a cell recorded at this code is never replaced by a carried one)."""
        cells = self.cells()
        here = [cell for cell in cells if cell["generator"] == generator]
        carried = []
        for carry in self.carry_overs(generator):
            recorded = {_place(cell) for cell in here if cell["recipe"] == carry["recipe"]}
            for cell in cells:
                earlier = (cell["recipe"], cell["generator"]) == (carry["earlier_recipe"], carry["earlier_generator"])
                if earlier and _place(cell) not in recorded:
                    carried.append(
                        cell | {"recipe": carry["recipe"], "generator": generator, "carried_from": cell["generator"]}
                    )
        return here + carried

    def carry_overs(self, generator: str) -> list:
        return [
            carry for carry in read_json_files(os.path.join(self.folder, "carried")) if carry["generator"] == generator
        ]

    def carry_over(self, recipe: str, generator: str, earlier_recipe: str, earlier_generator: str) -> str:
        """Records that `recipe` at the code `generator` makes the clips `earlier_recipe` made at
        `earlier_generator`, after checking every cell recorded for both figure for figure: a
        ValueError names the first figure that differs, or says no cell is recorded for both."""
        cells = self.cells()
        now = {_place(c): c for c in cells if (c["recipe"], c["generator"]) == (recipe, generator)}
        before = {_place(c): c for c in cells if (c["recipe"], c["generator"]) == (earlier_recipe, earlier_generator)}
        shared = sorted(set(now) & set(before))
        if not shared:
            raise ValueError(
                f"no cell is recorded both for {recipe!r} at {generator} and for {earlier_recipe!r} at "
                f"{earlier_generator}: run one of the earlier cells at this code first"
            )
        for place in shared:
            differing = differing_figures(now[place]["evaluation"], before[place]["evaluation"])
            if differing:
                raise ValueError(
                    f"{recipe!r} at {generator} does not make the clips {earlier_recipe!r} made at {earlier_generator}:"
                    f" in {place_name(place)}, {differing[0]} differs"
                )
        path = os.path.join(self.folder, "carried", f"{recipe_slug(recipe)}-{generator}.json")
        carry = {
            "recipe": recipe,
            "generator": generator,
            "earlier_recipe": earlier_recipe,
            "earlier_generator": earlier_generator,
            "checked_on": [place_name(place) for place in shared],
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        write_json(path, carry)
        return path

    def write_rule(self, name: str, text: str, variants: list, commit: str, generator: str) -> str:
        """A decision rule, before its cells run, comparing `variants` ((recipe, sampling candidates)
        pairs, the first the baseline); one already written is never changed."""
        path = os.path.join(self.folder, "rules", f"{name}.json")
        rule = {
            "name": name,
            "rule": text,
            "recipes": [recipe for recipe, _ in variants],
            "candidates": [candidates for _, candidates in variants],
        }
        if os.path.isfile(path):
            with open(path) as f:
                written = json.load(f)
            if (written["rule"], rule_variants(written)) != (text, [tuple(v) for v in variants]):
                raise ValueError(
                    f"the rule {name} was written on {written['written']} as: {written['rule']!r} "
                    f"for {written['recipes']}; a rule is not changed once its cells run: name a new one"
                )
            return path
        rule |= {
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": commit,
            "generator": generator,
        }
        write_json(path, rule)
        return path

    def rules(self) -> list:
        return read_json_files(os.path.join(self.folder, "rules"))


def read_json_files(folder: str) -> list:
    """Every .json file directly in `folder`, by name (none if there is no folder)."""
    if not os.path.isdir(folder):
        return []
    out = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            with open(os.path.join(folder, name)) as f:
                out.append(json.load(f))
    return out


def write_json(path: str, payload: dict, sort_keys: bool = False) -> None:
    """Atomically: a write cut short leaves no file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text_atomic(path, json.dumps(payload, indent=1, sort_keys=sort_keys))


def _place(cell: dict) -> tuple:
    """Where a cell sits among a recipe's cells: its set of clips, seed and sampling candidates."""
    return cell["cell"], cell["seed"], cell["candidates"]


def place_name(place: tuple) -> str:
    cell, seed, candidates = place
    return f"{cell} seed {seed} with {candidates} candidate(s)"


def differing_figures(first: dict, second: dict, where: str = "") -> list:
    """The figures (as paths, e.g. 'gan_test/generated/overall') two evaluations do not share, time and
    paths aside; compared as JSON writes them, so a NaN equals a NaN."""
    if isinstance(first, dict) and isinstance(second, dict):
        names = sorted((set(first) | set(second)) - set(NOT_FIGURES))
        return [d for name in names for d in differing_figures(first.get(name), second.get(name), f"{where}/{name}")]
    return [] if json.dumps(first) == json.dumps(second) else [where.lstrip("/")]


def accuracy_of(evaluation: dict, judge: str) -> dict | None:
    """The judge's accuracy figures: set name -> figures (None: the cell predates that judge)."""
    if judge == "gan_test":
        return evaluation.get("gan_test")
    acc = evaluation["conditional_accuracy"]
    return {"generated": acc["generated"], "real, the files themselves": acc["real, the files themselves"]}


def generated_judgements(evaluation: dict, judge: str, class_name: str | None = None) -> np.ndarray:
    """The judge's verdict on each generated clip (1 right, 0 wrong), of one class or of all: a class's
    clips are `per_class` draws, so its accuracy gives them exactly, up to their order."""
    figures = accuracy_of(evaluation, judge)["generated"]["per_class"]
    n = evaluation["per_class"]
    names = [class_name] if class_name else evaluation["classes"]
    return np.concatenate([np.r_[np.ones(round(figures[c] * n)), np.zeros(n - round(figures[c] * n))] for c in names])


def cell_line(cell: dict, judge: str) -> str:
    """One row of the cells table: generated / real files (their ratio), the lowest class's ratio, KID
    against its floor, seconds and peak memory."""
    e = cell["evaluation"]
    figures = accuracy_of(e, judge)
    kid = e["distances"]["generated"]["kid"] / e["distances"]["real (floor)"]["kid"]
    head = f"{cell['recipe'] or '(default)':<28} {cell['cell']:<5} {cell['seed']:>5} {cell['candidates']:>3}"
    memory = "-" if cell["peak_rss_mb"] is None else f"{cell['peak_rss_mb']:.0f}"
    code = cell["generator"][:8] + (f" (carried from {cell['carried_from'][:8]})" if "carried_from" in cell else "")
    tail = f"{kid:>6.2f}x {cell['train_s'] + cell['evaluate_s']:>7.0f} s {memory:>6} MB  {code}"
    if figures is None:
        return f"{head}   (no {judge} judge in this cell){'':>30}{tail}"
    generated, real = figures["generated"], figures["real, the files themselves"]
    ratios = {
        c: generated["per_class"][c] / real["per_class"][c]
        for c in e["classes"]
        if real["per_class"][c] and generated["per_class"][c] is not None
    }
    lowest = min(ratios, key=ratios.get)
    return (
        f"{head} {generated['overall']:>9.3f} {real['overall']:>6.3f} {generated['overall'] / real['overall']:>6.2f}"
        f"  {lowest:<14}{ratios[lowest]:>5.2f}{tail}"
    )


def print_cells(cells: list, judge: str) -> None:
    print(f"\nEvery recorded cell, judged by {JUDGES[judge]}:")
    print(
        f"{'recipe':<28} {'cell':<5} {'seed':>5} {'c':>3} {'generated':>9} {'real':>6} {'ratio':>6}  "
        f"{'lowest class':<14}{'ratio':>5}{'KID':>7} {'time':>9} {'memory':>9}  code"
    )
    for cell in cells:
        print(cell_line(cell, judge))
    print(
        "  (real: the held-out real files as they are; KID: generated over the real-vs-real floor; time: training and "
        "evaluation on the machine that recorded the cell; code: the generator's hash)"
    )


def print_per_class(cells: list, judge: str) -> None:
    """Per class, generated / real files, each cell."""
    judged = [c for c in cells if accuracy_of(c["evaluation"], judge)]
    if not judged:
        return
    classes = judged[0]["evaluation"]["classes"]
    print(f"\nPer class, generated / held-out real files ({JUDGES[judge]}):")
    print(f"{'recipe, cell, seed, candidates, code':<58}" + "".join(f"{c:>15}" for c in classes))
    for cell in judged:
        figures = accuracy_of(cell["evaluation"], judge)
        generated, real = figures["generated"]["per_class"], figures["real, the files themselves"]["per_class"]
        row = "".join(f"{generated[c]:>8.2f} / {real[c]:.2f}" for c in classes)
        label = f"{cell['recipe'] or '(default)'}, {cell['cell']}, {cell['seed']}, c{cell['candidates']}, "
        print(f"{label + cell['generator'][:8]:<58}{row}")


def variant_name(variant: tuple) -> str:
    recipe, candidates = variant
    return f"{recipe or '(the default)'}, {candidates} candidate(s)"


def rule_variants(rule: dict) -> list:
    """A rule's (recipe, candidates) pairs (rules written before candidates were compared sampled with 4)."""
    return list(zip(rule["recipes"], candidates_of(rule), strict=True))


def candidates_of(rule: dict) -> list:
    return rule.get("candidates", [GanConfig().candidates] * len(rule["recipes"]))


def print_comparison(cells: list, variants: list, judge: str) -> None:
    """Each variant's (recipe, candidates) generated accuracy minus the first's, overall and per class,
    pooled over the cells (set of clips, seed) both have; then overall for each such cell, where one
    training's luck shows as a change of sign. The intervals hold the judging's noise, not the training's."""
    by = {
        ((c["recipe"], c["candidates"]), c["cell"], c["seed"]): c for c in cells if accuracy_of(c["evaluation"], judge)
    }
    for variant in variants[1:]:
        shared = sorted(
            {(cell, seed) for v, cell, seed in by if v == variant}
            & {(cell, seed) for v, cell, seed in by if v == variants[0]}
        )
        print(f"  {variant_name(variant)} - {variant_name(variants[0])}, judged by {JUDGES[judge]}:")
        if not shared:
            print("    no cell recorded for both yet")
            continue
        print(
            f"    pooled over {', '.join(f'{cell} seed {seed}' for cell, seed in shared)}; 95% intervals over the "
            "generated clips"
        )

        def pooled(name, class_name=None, only=None):
            return np.concatenate(
                [
                    generated_judgements(by[(name, cell, seed)]["evaluation"], judge, class_name)
                    for cell, seed in shared
                    if only in (None, (cell, seed))
                ]
            )

        for class_name in [None, *by[(variant, *shared[0])]["evaluation"]["classes"]]:
            difference = independent_difference(pooled(variant, class_name), pooled(variants[0], class_name))
            print(f"    {class_name or 'overall':<14} {difference.as_points()}")
        for cell, seed in shared:
            difference = independent_difference(
                pooled(variant, only=(cell, seed)), pooled(variants[0], only=(cell, seed))
            )
            print(f"    overall, {cell} seed {seed}: {difference.as_points()}")


def print_ledger(ledger: Ledger, rule: str | None = None, judge: str = "gan_test") -> None:
    cells = ledger.cells()
    print_cells(cells, judge)
    print_per_class(cells, judge)
    for written in ledger.rules():
        if rule in (None, written["name"]):
            print(
                f"\nRule {written['name']} (written {written['written']}, before its cells, for the code "
                f"{written['generator']}): {written['rule']}"
            )
            at_its_code = ledger.cells_at(written["generator"])
            for carry in ledger.carry_overs(written["generator"]):
                recipe, earlier = carry["recipe"] or "(the default)", carry["earlier_recipe"] or "(the default)"
                print(
                    f"  {recipe} makes the clips {earlier} made at the code {carry['earlier_generator']}, figure for "
                    f"figure in {', '.join(carry['checked_on'])}: its cells there count as this recipe's"
                )
            print_comparison(at_its_code, rule_variants(written), judge)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rule", help="print this rule's comparison only")
    p.add_argument("--judge", choices=tuple(JUDGES), default="gan_test")
    p.add_argument(
        "--carry-over",
        action="store_true",
        help="check that --recipe at today's code makes the clips --earlier-recipe made at --earlier-generator, "
        "and record it",
    )
    p.add_argument("--recipe", default="", metavar="OPTIONS", help="with --carry-over: as --recipe='--steps 600'")
    p.add_argument("--earlier-recipe", default="", metavar="OPTIONS")
    p.add_argument("--earlier-generator", metavar="HASH")
    p.add_argument("--results", default=RESULTS, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    ledger = Ledger(a.results)
    if a.carry_over:
        if not a.earlier_generator:
            p.error("--carry-over needs --earlier-generator")
        try:
            print(f"recorded: {ledger.carry_over(a.recipe, generator_hash(), a.earlier_recipe, a.earlier_generator)}")
        except ValueError as error:
            p.exit(2, f"{error}\n")
        return
    print_ledger(ledger, a.rule, a.judge)


if __name__ == "__main__":
    main()
