"""What every cohort shares: the cohort type and where its data are found.

A loader returns a :class:`Cohort` (or a subclass adding what its source knows, such as
PhysioNet 2019's sepsis onsets); :func:`resolve_data_dir` finds its data folder the same way for
every source: the argument, else an environment variable, else the download cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import EventSet

__all__ = ["ENV_CACHE", "Cohort", "default_cache_dir", "resolve_data_dir"]

#: Environment variable naming the root of the download cache (default ``~/.cache/medfuse_sk``).
ENV_CACHE = "MEDFUSE_CACHE"


@dataclass(repr=False, kw_only=True)
class Cohort:
    """ICU stays as a long event table with one label per stay.

    Attributes
    ----------
    events : pandas.DataFrame
        One row per observation, columns ``stay_id``, ``time`` (float64, hours since the
        stay's origin), ``feature`` (categorical of str) and ``value`` (float64), grouped by
        stay in the order of ``stay_ids`` and sorted by time within a stay.
    labels : pandas.Series
        0/1 (int8) per stay, indexed by ``stay_id``, in the order of ``stay_ids``.
    stay_ids : numpy.ndarray
        The stays; a stay without any event is included (it still gets a prediction).
    report : dict
        Counts of what loading (and building the task) did.
    categorical : tuple of str
        Features whose (numeric) values are category codes.
    split : tuple of str
        The split(s) loaded (``train``, ``val``, ``test``), or the name of a packaged sample.
    stay_split : pandas.Series or None
        The split of each stay (indexed by ``stay_id``, in the order of ``stay_ids``), where
        the source has fixed splits; cut a cohort loaded over several splits with it.
    """

    events: pd.DataFrame
    labels: pd.Series
    stay_ids: np.ndarray
    report: dict[str, Any]
    categorical: tuple[str, ...] = ()
    split: tuple[str, ...] = ()
    stay_split: pd.Series | None = None

    def to_event_set(self, **kwargs: Any) -> EventSet:
        """The events as an :class:`~medfuse_sk.data.EventSet` holding every stay, in order.

        ``kwargs`` go to :meth:`EventSet.from_long <medfuse_sk.data.EventSet.from_long>` and
        override the cohort's ``categorical`` and ``stays``. The cohort's own categorical
        features may be absent from a few stays' events (no error then); times are hours.
        """
        own = {"categorical": self.categorical, "stays": self.stay_ids}
        if "categorical" not in kwargs:
            own["absent_categorical"] = "ignore"
        kwargs = {**own, **kwargs}
        return EventSet.from_long(self.events, **kwargs)

    def __len__(self) -> int:
        return len(self.stay_ids)

    def _repr_extra(self) -> dict[str, Any]:
        """Further ``name=value`` pairs a subclass shows in its ``repr``."""
        return {}

    def __repr__(self) -> str:
        n_pos = int(self.labels.sum()) if len(self.labels) else 0
        fields = {"split": "+".join(self.split) or "all", "stays": len(self.stay_ids),
                  "positive": n_pos, "events": len(self.events), **self._repr_extra()}
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in fields.items())})"


def default_cache_dir(folder: str = "") -> Path:
    """The download cache, ``$MEDFUSE_CACHE/<folder>`` or ``~/.cache/medfuse_sk/<folder>``."""
    root = os.environ.get(ENV_CACHE)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "medfuse_sk"
    return base / folder if folder else base


def resolve_data_dir(
    name: str,
    given: str | os.PathLike | None,
    env_var: str | None = None,
    *,
    cache: str | None = None,
    has_data: Callable[[Path], bool] = Path.exists,
    expected: str = "",
    how_to_get: str = "",
    argument: str = "data_dir",
) -> Path:
    """Where the data of ``name`` are: the argument, else ``$env_var``, else the download cache.

    The first of the three that is set is the answer; it must hold data (``has_data``), else
    the error names it and says what was expected. Nothing else is looked at (in particular no
    folder relative to the working directory).

    Parameters
    ----------
    name : str
        The data's name in messages (``"PhysioNet 2012"``).
    given : str, path-like or None
        The folder (or file) the caller passed.
    env_var : str, optional
        Environment variable that may name the folder (``MEDFUSE_P12_DIR``).
    cache : str, optional
        Sub-folder of the download cache (:func:`default_cache_dir`) to use when neither of the
        above is set; None: there is no cache for these data.
    has_data : callable, default ``Path.exists``
        Whether a candidate holds the data.
    expected : str
        What a folder holding the data contains, for the error message.
    how_to_get : str
        How to get the data, appended to every error message.
    argument : str, default "data_dir"
        The caller's name for ``given``, for the error message.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        Naming every place tried.
    """
    env = os.environ.get(env_var) if env_var else None
    if given is not None:
        root, origin = Path(given).expanduser(), f"{argument}={str(given)!r}"
    elif env:
        root, origin = Path(env).expanduser(), f"{env_var}={env}"
    else:
        tried = [f"no {argument} given"]
        if env_var:
            tried.append(f"{env_var} is not set")
        if cache is None:
            raise FileNotFoundError(_message(f"{name} data not found: {' and '.join(tried)}",
                                             how_to_get))
        root = default_cache_dir(cache)
        if has_data(root):
            return root
        raise FileNotFoundError(_message(
            f"{name} data not found: {', '.join(tried)}, and the download cache {root} is empty",
            how_to_get))
    if not has_data(root):
        detail = f": expected {expected}" if expected else ""
        raise FileNotFoundError(_message(f"no {name} data in {root} ({origin}){detail}", how_to_get))
    return root


def _message(what: str, how_to_get: str) -> str:
    return f"{what}. {how_to_get}" if how_to_get else f"{what}."
