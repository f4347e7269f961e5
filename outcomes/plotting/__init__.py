"""Axes-level plot functions: ``plot_*(…, ax=None) -> Axes``; they never save or show."""
