"""``python -m outcomes`` runs the command line."""

from .cli import entry

entry()
