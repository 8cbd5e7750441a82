"""Command line of the offline pipeline: `python -m model <subcommand>`.

Each subcommand lives in its own module, which defines `add_arguments(parser)` and
`run(args) -> int`. To add one, add a line to COMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand name -> (module defining add_arguments and run, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("model.build", "train, cross-validate and export the text model artifact"),
    "evaluate": ("model.evaluate", "score labelled CSVs with an artifact, one JSON line per file"),
    "compare": ("model.compare", "two artifacts' manifests and metrics side by side"),
    "bench": ("model.bench", "single-review inference latency (p50, p99) on one thread"),
    "profile": ("model.profile", "reference profile of an artifact, for drift monitoring"),
    "fit-behaviour": ("model.behaviour", "fit the behaviour scorecard on labelled events"),
    "replay": ("model.replay", "replay labelled events through the scoring path; ROC/PR AUC"),
    "export-labels": ("model.labels", "export moderators' verdicts as a labelled training CSV"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
