"""The ``outcomes`` command line: a thin layer over the library.

Exit codes (documented in the README and in ``outcomes --help``):

0
    success: every row of every export accepted;
1
    the data had problems (rows quarantined, a file rejected) but output was
    produced where possible;
2
    usage error: a bad path, option, plan, description or mapping file, or an
    output folder that would overwrite inputs or files the tool did not write;
3
    the environment failed (disk full, out of memory, output not writable); the
    previous complete output set was left as it was.

A user error never prints a traceback; an unexpected failure (a bug) does,
with a request to report it.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Sequence

from ..errors import EXIT_ENVIRONMENT, EXIT_USAGE, OutcomesError
from . import audit, compare, demo, describe, export, patients, plan, simulate, validate

__all__ = ["main", "build_parser"]

_EPILOG = """exit codes:
  0  success: every row accepted
  1  the data had problems (rows quarantined or a file rejected); outputs were still written
  2  usage error (bad path, option, plan, description or mapping file; an output folder
     inside the data folder or holding files outcomes did not write)
  3  the environment failed (disk full, out of memory, output not writable); the previous
     complete output set was left as it was
"""

#: OS errors that mean the machine, not the request, failed.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENOMEM, errno.EFBIG,
                       errno.EACCES, errno.EPERM, errno.EMFILE, errno.ENFILE}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one sentence and where to look, not argparse's usage block
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\nRun '{self.prog} --help' for the options.\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="outcomes", description="Validate, analyse and report nerve glide program exports.",
                     epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"outcomes {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (validate, describe, audit, compare, patients, plan, simulate, demo, export):
        module.add_parser(sub, epilog=_EPILOG)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_values_starting_with_dash(parser, list(sys.argv[1:] if argv is None else argv)))
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    import contextlib

    from ..progress import reporting

    try:
        # a line now and then on a long run, unless the command says each step itself (demo)
        with (reporting(sys.stderr, prefix=f"outcomes {args.command}") if getattr(args, "progress", True)
              else contextlib.nullcontext()):
            status = int(args.run(args))
        sys.stdout.flush()  # a full device on stdout fails here, not silently at exit
        return status
    except OutcomesError as exc:
        _say(f"outcomes {args.command}: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("outcomes: interrupted; the previous output set (if any) was left as it was.")
        return 130
    except BrokenPipeError:  # stdout closed early (e.g. piped into `head`): not an error of ours
        _silence_stdout()
        return 0
    except MemoryError:
        _say(f"outcomes {args.command}: ran out of memory. Nothing was half-written; the previous output "
             "set (if any) was left as it was. Run on a machine with more memory, or on fewer patients.")
        return EXIT_ENVIRONMENT
    except RecursionError:
        _say(f"outcomes {args.command}: an input is nested too deeply to read (a JSON or TOML file with "
             "thousands of levels?). Check the mapping, plan or description files.")
        return EXIT_USAGE
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        _say(f"outcomes {args.command}: the operating system refused{where}: {exc.strerror}. Nothing "
             "was half-written; the previous output set (if any) was left as it was. Free space, fix "
             "the permissions or choose another --out folder, then run again.")
        _silence_stdout()
        return EXIT_ENVIRONMENT


def _values_starting_with_dash(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--patient -rf`` → ``--patient=-rf``: a value such as a patient code may start with a dash.

    argparse reads any ``-x`` token as an option; a token that is not one of the command's
    options and follows an option that takes a value is that option's value.
    """
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    command = next((t for t in argv if not t.startswith("-")), None)
    if sub is None or command not in sub.choices:
        return argv
    actions = {o: a for a in sub.choices[command]._actions for o in a.option_strings}
    out: list[str] = []
    for token in argv:
        prev = out[-1] if out else ""
        takes_value = prev in actions and actions[prev].nargs != 0 and not isinstance(
            actions[prev], (argparse._StoreConstAction, argparse._StoreTrueAction, argparse._HelpAction))
        if takes_value and token.startswith("-") and not token.startswith("--") and token not in actions:
            out[-1] = f"{prev}={token}"
            continue
        out.append(token)
    return out


def _say(message: str) -> None:
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:
        pass


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def entry() -> None:  # pragma: no cover - console script shim
    sys.exit(main())
