"""Datasets: PhysioNet/CinC Challenge 2012 loader, packaged sample and checked download."""

from .physionet2012 import (
    ChecksumError,
    PhysioNet2012,
    fetch_physionet2012,
    load_physionet2012,
    load_sample,
)

__all__ = [
    "ChecksumError",
    "PhysioNet2012",
    "fetch_physionet2012",
    "load_physionet2012",
    "load_sample",
]
