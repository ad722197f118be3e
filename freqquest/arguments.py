"""The command lines' parser and their refusals: argparse, with a misspelt option answered by the
nearest right one in one line rather than the whole usage, and an argument found wrong before any
work in one line with exit code 2. A config's settings become options from the dataclass's fields
(add_config_flags), so a flag and its field cannot drift apart. Imports nothing heavy: mistakes are
answered at once."""

import argparse
import dataclasses
import difflib
import shlex
import sys
import types
import typing
from collections.abc import Callable


def refuse(message: str) -> int:
    """An argument found wrong before any work: one line, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2


UNRECOGNIZED = "unrecognized arguments: "  # argparse's words before the options it does not know


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):
        if not message.startswith(UNRECOGNIZED):
            super().error(message)
        print(self.explain(message) + f"\n(`{self.prog} --help` lists every option)", file=sys.stderr)
        sys.exit(2)

    def explain(self, message: str) -> str:
        """argparse's complaint, an unknown option answered with the one it most likely meant."""
        lines = []
        if message.startswith(UNRECOGNIZED):
            for token in (t for t in message.removeprefix(UNRECOGNIZED).split() if t.startswith("-")):
                option = token.split("=", 1)[0]
                nearest = self.nearest_option(option)
                guess = f": did you mean {nearest}?" if nearest else ""
                lines.append(f"{self.prog}: error: no option {option}{guess}")
        return "\n".join(lines or [f"{self.prog}: error: {message}"])

    def nearest_option(self, option: str) -> str | None:
        """The option `option` most likely meant: the same with '-' for '_', or the closest spelling."""
        known = [name for name in self._option_string_actions if name.startswith("--")]
        spelt = option.replace("_", "-").lower()
        if spelt in known:
            return spelt
        close = difflib.get_close_matches(spelt, known, n=1, cutoff=0.6)
        return close[0] if close else None


@dataclasses.dataclass(frozen=True)
class Flag:
    """A config field as a command-line option: its help, and what argparse needs beyond the field's type."""

    help: str
    choices: tuple | None = None
    metavar: str | None = None
    name: str | None = None  # the option's name when it is not the field's: --mixup for mixup_alpha
    parse: Callable | None = None  # a converter other than the field's type (e.g. `none` for "")

    def option(self, field: str) -> str:
        return "--" + (self.name or field).replace("_", "-")


def field_type(cls, field: str) -> type:
    """A dataclass field's type, the one that is not None for an optional one (`float | None` is float)."""
    kind = {f.name: f.type for f in dataclasses.fields(cls)}[field]
    if isinstance(kind, types.UnionType):
        (kind,) = [t for t in typing.get_args(kind) if t is not type(None)]
    return kind


def add_config_flags(group, cls, flags: dict, defaults=None) -> None:
    """One option for each field of the dataclass `cls` that `flags` names, typed as the field is (a bool is
    --x / --no-x), with the field's name as its destination and None as its default: what is not given is
    the preset's. `defaults`, an instance of `cls`, puts its values in the help (a None says nothing: the
    help says what happens without the option)."""
    for field, flag in flags.items():
        kind = field_type(cls, field)
        value = None if defaults is None else getattr(defaults, field)
        shown = ("on" if value else "off") if kind is bool else value
        text = flag.help if value is None else f"{flag.help} (default {shown})"
        if kind is bool:
            group.add_argument(flag.option(field), dest=field, action=argparse.BooleanOptionalAction, help=text)
        else:
            group.add_argument(
                flag.option(field),
                dest=field,
                type=flag.parse or kind,
                choices=flag.choices,
                metavar=flag.metavar,
                help=text,
            )


class OptionsParser(ArgumentParser):
    """Options written as on the command line inside a program (a notebook's RECIPE): a mistake is a
    ValueError, not an exit."""

    def error(self, message: str):
        raise ValueError(self.explain(message))


def parse_options(add_flags: Callable, leading: list, options: str, prog: str) -> argparse.Namespace:
    """`options` ("--epochs 30 --mixup 0.2") after `leading`, parsed by the flags `add_flags(parser)` adds."""
    parser = OptionsParser(prog=prog, add_help=False)
    add_flags(parser)
    return parser.parse_args([*leading, *shlex.split(options)])


def given(args: argparse.Namespace, flags: dict) -> dict:
    """The fields among `flags` that the command line gave, with their values."""
    return {field: getattr(args, field) for field in flags if getattr(args, field) is not None}


def add_data_options(parser: argparse.ArgumentParser, run_dir_default: str, workers_help: str):
    """The options both scripts take for where the data is and where the run goes; returns their group."""
    where = parser.add_argument_group("data and outputs")
    where.add_argument(
        "--data",
        metavar="DIR",
        help="competition root (train/train/<class>/, and to classify test/test and sample_submission.csv); "
        "default: search ./data, /kaggle/input, /content, else build the synthetic demo",
    )
    where.add_argument("--demo", action="store_true", help="run on the synthetic demo competition (data/demo)")
    where.add_argument(
        "--run-dir",
        metavar="DIR",
        help=f"the run's folder (default {run_dir_default}); a folder that holds a run is refused, unless --overwrite",
    )
    where.add_argument("--overwrite", action="store_true", help="clear a --run-dir that holds a run before this one")
    where.add_argument("--cache-dir", metavar="DIR", help="feature cache (default ./cache)")
    where.add_argument("--workers", type=int, metavar="N", help=f"{workers_help} (default: all cores)")
    return where


def check_data_and_resume(parser: argparse.ArgumentParser, args: argparse.Namespace, flags: dict, note: str = ""):
    """What both scripts refuse before any work: --demo beside --data, and a --resume with an option that would
    make the resumed run another one (any of `flags`, or of the options that name another run or data)."""
    if args.demo and args.data:
        parser.error(
            "--demo and --data exclude each other: --demo runs on the synthetic demo, --data on your competition"
        )
    if not args.resume:
        return
    changes = [flags[field].option(field) for field in given(args, flags)]
    others = ("preset", "run-dir", "overwrite", "demo", "predict-only")  # --predict-only: the classifier's only
    changes += [f"--{name}" for name in others if getattr(args, name.replace("-", "_"), None)]
    if changes:
        parser.error(
            f"--resume continues {args.resume} as its config.json says{note}; {', '.join(changes)} would change "
            f"that run: start a new one instead (another --run-dir, or --overwrite)"
        )
