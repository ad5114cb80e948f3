"""Shared test fixtures: tiny network settings and the synthetic U-shaped task.

``TINY`` lives in ``synthetic.py`` (``from synthetic import TINY``) for module-level use such
as ``pytest.mark.parametrize``; inside a test prefer the ``tiny_params`` fixture (a fresh copy).
"""

import pytest
from synthetic import TINY, u_shaped_task


@pytest.fixture
def tiny_params():
    """A fresh copy of ``TINY`` that a test may change."""
    return dict(TINY)


@pytest.fixture(scope="session")
def u_shaped():
    """``(events, labels)``: 160 synthetic stays whose risk is U-shaped in lab ``K`` (seed 0).

    Shared by the whole session: do not modify the frames in place.
    """
    return u_shaped_task(n_stays=160, seed=0)


@pytest.fixture(scope="session")
def fitted_medfuse(u_shaped):
    """A ``MedFuseClassifier(random_state=0, **TINY)`` fitted on ``u_shaped``. Do not refit it."""
    from medfuse_sk import MedFuseClassifier

    events, labels = u_shaped
    return MedFuseClassifier(random_state=0, **TINY).fit(events, labels)
