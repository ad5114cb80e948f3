"""Datasets: PhysioNet/CinC Challenge 2012 and 2019 loaders, packaged samples and checked download."""

from .download import ChecksumError, fetch_physionet2012
from .physionet2012 import PhysioNet2012, load_physionet2012, load_sample
from .physionet2019 import PhysioNet2019, load_physionet2019, load_physionet2019_sample

__all__ = [
    "ChecksumError",
    "PhysioNet2012",
    "PhysioNet2019",
    "fetch_physionet2012",
    "load_physionet2012",
    "load_physionet2019",
    "load_physionet2019_sample",
    "load_sample",
]
