"""The command lines' parser and their refusals: argparse, with a misspelt option answered by the
nearest right one in one line rather than the whole usage, and an argument found wrong before any
work in one line with exit code 2. Imports nothing heavy: mistakes are answered at once."""

import argparse
import difflib
import sys


def refuse(message: str) -> int:
    """An argument found wrong before any work: one line, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):
        unknown = message.removeprefix("unrecognized arguments: ")
        if unknown == message:
            super().error(message)
        lines = []
        for token in (t for t in unknown.split() if t.startswith("-")):
            option = token.split("=", 1)[0]
            nearest = self.nearest_option(option)
            lines.append(f"{self.prog}: error: no option {option}" + (f": did you mean {nearest}?" if nearest else ""))
        lines = lines or [f"{self.prog}: error: {message}"]
        print("\n".join(lines) + f"\n(`{self.prog} --help` lists every option)", file=sys.stderr)
        sys.exit(2)

    def nearest_option(self, option: str) -> str | None:
        """The option `option` most likely meant: the same with '-' for '_', or the closest spelling."""
        known = [name for name in self._option_string_actions if name.startswith("--")]
        spelt = option.replace("_", "-").lower()
        if spelt in known:
            return spelt
        close = difflib.get_close_matches(spelt, known, n=1, cutoff=0.6)
        return close[0] if close else None
