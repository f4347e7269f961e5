"""Kept for old imports: the errors live on the ground floor, :mod:`outcomes.errors`."""

from ..errors import *  # noqa: F401,F403
from ..errors import __all__  # noqa: F401
