"""The ``perfbudget`` command.

Exit codes: 0 success, 4 a bad budget file (as pytest's usage error), 2 bad
command-line arguments (argparse's own convention).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import budget_file

EXIT_OK = 0
EXIT_USAGE = 4


def _check(arguments: argparse.Namespace) -> int:
    try:
        loaded = budget_file.load(arguments.file)
    except budget_file.BudgetFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{arguments.file}: ok ({len(loaded.entries)} pattern{'s' * (len(loaded.entries) != 1)})")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="perfbudget", description="pytest-perfbudget tools")
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="validate a budget file",
        description="Validate a budget file. Exit 0 when it is valid, 4 with a one-line error when not.",
    )
    check.add_argument("file", metavar="FILE", help="the budget file (YAML)")
    check.set_defaults(run=_check)
    return main_parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    result: int = arguments.run(arguments)
    return result


if __name__ == "__main__":
    sys.exit(main())
