"""Hostile-input matrix (issue 16): broken datasets built on the fly, and the checks every run must pass.

`tests/hostile/cases.py` builds each case into a temporary folder (never committed) and runs one
``outcomes`` command on it; `tests/test_hostile.py` runs the matrix under pytest and
`benchmarks/hostile.py` prints each case's run time.
"""
