"""Peak-memory helpers shared by the benchmarks (Linux /proc; NaN or False elsewhere)."""

from __future__ import annotations

from pathlib import Path


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status (e.g. ``VmHWM``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    """Peak resident memory of this process so far (VmHWM), in MB."""
    return _status_mb("VmHWM")


def _rss_mb() -> float:
    """Resident memory of this process now (VmRSS), in MB."""
    return _status_mb("VmRSS")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the next peak is the work's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
