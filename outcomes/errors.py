"""Exceptions and exit codes shared by every layer and the command line.

Exit codes (the command line's contract, documented in the README):

0 ``EXIT_OK``
    success;
1 ``EXIT_DATA_PROBLEMS``
    the data had problems (rows quarantined, a file rejected), outputs written where possible;
2 ``EXIT_USAGE``
    usage error: bad path, option, description, plan or mapping file, or an output folder
    that would overwrite inputs or files the tool did not write;
3 ``EXIT_ENVIRONMENT``
    the environment failed (disk full, out of memory, output folder unwritable); the
    previous complete output set was left as it was.
"""

from __future__ import annotations

__all__ = [
    "EXIT_OK",
    "EXIT_DATA_PROBLEMS",
    "EXIT_USAGE",
    "EXIT_ENVIRONMENT",
    "EnvironmentFailure",
    "NothingToAnalyse",
    "OutcomesError",
    "UsageError",
    "FileRejected",
]

#: Every row of every export was accepted.
EXIT_OK = 0
#: Output was produced, but rows were quarantined or a file was rejected.
EXIT_DATA_PROBLEMS = 1
#: The command could not run as asked: bad path, bad option, bad mapping file.
EXIT_USAGE = 2
#: The machine failed us (disk full, out of memory, unwritable output); nothing half-written was left.
EXIT_ENVIRONMENT = 3


class OutcomesError(Exception):
    """Base class for errors a user can fix; the CLI prints them without a traceback."""

    exit_code = EXIT_USAGE


class UsageError(OutcomesError):
    """The request itself is wrong (a missing folder, an unreadable mapping file, a bad option)."""

    exit_code = EXIT_USAGE


class EnvironmentFailure(OutcomesError):
    """The machine, not the data or the request, stopped the run (disk full, out of memory)."""

    exit_code = EXIT_ENVIRONMENT


class NothingToAnalyse(OutcomesError):
    """The data were read but nothing usable is left (every patient quarantined, a header-only file)."""

    exit_code = EXIT_DATA_PROBLEMS


class FileRejected(OutcomesError):
    """A whole export cannot be used: unreadable, empty, duplicate or missing required columns.

    Parameters
    ----------
    path : str
        The file (as the user named it).
    reason : str
        What is wrong, in plain language.
    hint : str
        What to do about it.
    column : str, optional
        The column concerned, when there is one.
    line : int, optional
        The line concerned, when there is one.
    """

    exit_code = EXIT_DATA_PROBLEMS

    def __init__(self, path: str, reason: str, hint: str, *, column: str | None = None,
                 line: int | None = None, rule: str = "file") -> None:
        self.path = str(path)
        self.reason = reason
        self.hint = hint
        self.column = column
        self.line = line
        self.rule = rule
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = self.path if self.line is None else f"{self.path} line {self.line}"
        return f"{where}: {self.reason} {self.hint}".strip()
