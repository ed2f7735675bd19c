"""The `jobtools` command: thin over the library; errors become one line and a non-zero code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobtools", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    # Each subcommand registers itself here: sub.add_parser(...).set_defaults(run=...)
    del sub
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("jobtools: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        print(f"jobtools {args.command}: error: {exc}", file=sys.stderr)
        return 1
