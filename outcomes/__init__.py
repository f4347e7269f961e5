"""outcomes: trustworthy numbers and figures from nerve glide home-exercise program exports."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("outcomes")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

from .cohort import Cohort
from .io import Dataset, load_dataset

__all__ = ["Cohort", "Dataset", "__version__", "load_dataset"]
