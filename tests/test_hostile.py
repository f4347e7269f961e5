"""Issue 16: the hostile-input matrix. Every broken dataset of the issue, built on the fly.

Each test builds one case of :mod:`hostile.cases` into ``tmp_path``, runs one ``outcomes`` command
on it and asserts: no traceback, an allowed exit code, no input changed, no formula or script
injection in any output, every record counted against the ``csv`` module's count, the case's own
promise, and a run time under the case's limit (90 s by default).

Cases the code does not satisfy yet are listed in :data:`XFAIL` with what is missing; remove an
entry once its case passes (the tests are ``strict=False``, so a fixed case shows as XPASS).
Run ``python benchmarks/hostile.py`` for each case's run time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile.cases import CASES, Case, run_and_check  # noqa: E402

#: case name -> what issue 16 still has to fix for it to pass.
XFAIL: dict[str, str] = {}


def _param(case: Case):
    marks = []
    if case.name in XFAIL:
        marks.append(pytest.mark.xfail(strict=False, reason=f"issue 16: {XFAIL[case.name]}"))
    if case.slow:
        marks.append(pytest.mark.slow)
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile_case(case: Case, tmp_path: Path) -> None:
    if case.skip is not None and (why := case.skip()):
        pytest.skip(why)
    env, result, problems = run_and_check(case, tmp_path)
    assert not problems, (
        f"`outcomes {' '.join(result.argv)}` exit {result.code} in {result.seconds:.1f} s:\n  - "
        + "\n  - ".join(problems)
        + f"\nstderr: {result.head(4)}"
    )


def test_matrix_covers_every_item_of_the_issue() -> None:
    items = {c.item for c in CASES}
    assert {"1", "2", "3", "4", "5", "7", "8"} <= items
    commands = {c.argv[0] for c in CASES}
    assert {"validate", "audit", "compare", "patients", "simulate", "plan"} <= commands


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """The generic checks are not tautologies: a formula cell, a lost row and a script are caught."""
    from hostile.core import Env, Result, csv_record_count, injection_problems, reconciliation_problems

    out = tmp_path / "out"
    out.mkdir()
    (out / "a.csv").write_text('x,=1+1\n"-3",-2\n"a\nb",c\n')
    (out / "b.html").write_text("<p>ok</p><script>hx_pwn()</script>")
    (out / "c.html").write_text("<p>&lt;script&gt;hx_pwn()&lt;/script&gt;</p>")
    problems = injection_problems(out)
    assert any("a.csv" in p for p in problems) and any("b.html" in p for p in problems)
    assert not any("c.html" in p for p in problems)
    assert csv_record_count(out / "a.csv") == 2
    doc = ('{"exports": [{"export": "sessions", "path": "%s", "status": "problems", "rows_read": 3, '
           '"accepted": 2, "quarantined": 0, "blank_skipped": 0}]}' % (out / "a.csv"))
    res = Result(["validate", str(tmp_path), "--format", "json"], 1, doc, "", 0.1)
    found = reconciliation_problems(res, Env(tmp=tmp_path, data=tmp_path, out=tmp_path / "none"))
    assert any("rows_read 3 !=" in p for p in found) and any("csv module reads 2" in p for p in found)
