"""The ``outcomes`` command line: a thin layer over the library.

Exit codes (documented in the README and in ``outcomes --help``):

0
    success: every row of every export accepted;
1
    the data had problems (rows quarantined, a file rejected) but output was
    produced where possible;
2
    usage error: a bad path, option or mapping file. Nothing was validated.

A user error never prints a traceback; an unexpected failure (a bug) does,
with a request to report it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..io.errors import EXIT_USAGE, OutcomesError
from . import audit, compare, demo, patients, plan, simulate, validate

__all__ = ["main", "build_parser"]

_EPILOG = """exit codes:
  0  success: every row accepted
  1  the data had problems (rows quarantined or a file rejected); outputs were still written
  2  usage error (bad path, option or mapping file)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's default also exits 2; keep its wording short
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\nRun '{self.prog} --help' for the options.\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="outcomes", description="Validate, analyse and report nerve glide program exports.",
                     epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"outcomes {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (validate, audit, compare, patients, plan, simulate, demo):
        module.add_parser(sub, epilog=_EPILOG)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.run(args))
    except OutcomesError as exc:
        print(f"outcomes {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("outcomes: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (e.g. piped into `head`): not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def entry() -> None:  # pragma: no cover - console script shim
    sys.exit(main())
