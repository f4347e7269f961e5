"""Kept for old imports: safe writing lives on the ground floor, :mod:`outcomes.files`."""

from ..files import *  # noqa: F401,F403
from ..files import __all__  # noqa: F401
