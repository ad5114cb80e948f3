"""PhysioNet/CinC Challenge 2012: the loader, the bundled sample, the checked download; the cohort ``p12``."""

from .._registry import register_cohort
from ._download import CONTENT_SHA256, FILES, SHA256, ChecksumError, content_digest, fetch_physionet2012
from ._loader import (
    BASE_URL,
    CATEGORICAL,
    DESCRIPTORS,
    TIME_SERIES,
    PhysioNet2012,
    load_physionet2012,
    load_sample,
)

__all__ = ["BASE_URL", "CATEGORICAL", "CONTENT_SHA256", "DESCRIPTORS", "FILES", "SHA256",
           "TIME_SERIES", "ChecksumError", "PhysioNet2012", "content_digest",
           "fetch_physionet2012", "load_physionet2012", "load_sample"]

register_cohort("p12", load_physionet2012, task="in-hospital death from the first 48 h",
                description="PhysioNet/CinC Challenge 2012: 12,000 ICU stays, the standard "
                            "train/val/test split")
