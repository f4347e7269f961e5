"""Package data, not code: this folder is installed as ``outcomes._data`` (see setup.py).

It holds the Table Schema files (``schemas/``), the progression schedules
(``schedules/``) and the synthetic example dataset (``example/``); the package finds
them with ``importlib.resources`` through `outcomes._resources`.
"""
