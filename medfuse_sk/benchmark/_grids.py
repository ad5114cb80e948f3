"""The tuning budget: each model's published defaults plus at most 8 settings of its grid.

Every model gets the same budget. Setting 0 is the model as its registry factory builds it (the
library's published defaults); the others are drawn from the model's grid below: all of them
when the grid holds at most ``max_settings`` combinations, else ``max_settings`` combinations
drawn without replacement by :class:`sklearn.model_selection.ParameterSampler` with seed 0 (the
same draw on every run). A drawn setting equal to the defaults is dropped rather than fitted
twice. A grid key names a parameter of the built model: the exact key of its ``get_params()``,
or the last part of nested keys (``max_depth`` sets ``earlystoppedxgbclassifier__max_depth``;
``window`` sets ``tokenizer__window``), on every estimator inside that has it.

Models without a grid (:data:`FIXED`, and registered models this table does not know yet) are
fitted with their defaults only; the benchmark's protocol record says so for each.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["GRIDS", "FIXED", "MAX_SETTINGS", "apply_setting", "grid_settings", "setting_key",
           "describe_setting", "check_pins", "pinned_settings"]

#: At most this many settings besides the defaults (the issue's equal tuning budget).
MAX_SETTINGS = 8

#: The documented grid of each registered model, by registry name. Ranges follow the models'
#: own documentation and YAIB's search spaces for the aggregate baselines.
GRIDS: dict[str, dict[str, list[Any]]] = {
    # per-stay aggregates; defaults: depth 5, lr 0.02, subsample 0.8, colsample 0.6, the number
    # of trees chosen on 10 % of the fitting stays
    "xgboost": {"max_depth": [3, 5, 7], "learning_rate": [0.02, 0.05, 0.1],
                "subsample": [0.6, 0.8, 1.0], "colsample_bytree": [0.4, 0.6, 0.8]},
    # YAIB's LightGBM space (leaves, learning rate, column subsampling, leaf size); defaults as
    # XGBoost's, 31 leaves, 20 stays per leaf
    "lightgbm": {"num_leaves": [15, 31], "max_depth": [3, 5, 7],
                 "learning_rate": [0.02, 0.05, 0.1], "colsample_bytree": [0.4, 0.6, 0.8],
                 "min_child_samples": [10, 20, 50]},
    # defaults: 500 trees, min_samples_leaf 2, max_features sqrt, balanced subsamples
    "random_forest": {"max_features": ["sqrt", 0.1, 0.3], "min_samples_leaf": [1, 2, 5, 10],
                      "max_depth": [None, 8, 16]},
    # YAIB's LR space: the inverse regularisation C on a log scale
    "logistic_regression": {"C": [0.001, 0.01, 0.1, 1.0, 10.0]},
    # the networks: learning rate, width and dropout around each one's published defaults
    "grud": {"hidden_size": [64, 128, 256], "lr": [5e-4, 1e-3, 2e-3]},
    "seft": {"lr": [5e-4, 1e-3, 2e-3], "d_model": [32, 64, 128], "dropout": [0.0, 0.1, 0.3]},
    "medfuse": {"lr": [5e-4, 1e-3, 2e-3], "d_model": [32, 64, 128], "dropout": [0.1, 0.2, 0.3]},
    "transformer": {"lr": [1e-4, 3e-4, 1e-3], "dropout": [0.1, 0.2, 0.3],
                    "head_dropout": [0.2, 0.45]},
    "tcn": {"lr": [2e-4, 5e-4, 1e-3], "hidden_size": [32, 64, 128], "dropout": [0.1, 0.2, 0.3]},
    "sand": {"lr": [2e-4, 5e-4, 1e-3], "hidden_size": [32, 64, 128], "dropout": [0.1, 0.2, 0.3]},
    "mtan": {"lr": [2e-4, 5e-4, 1e-3], "n_hidden": [128, 256], "embed_time": [64, 128]},
    "strats": {"lr": [2e-4, 5e-4, 1e-3], "d_model": [32, 64], "dropout": [0.1, 0.2, 0.3]},
    "summit": {"lr": [3e-5, 1e-4, 3e-4], "dropout": [0.1, 0.2], "head_dropout": [0.2, 0.45]},
    "raindrop": {"lr": [1e-4, 5e-4, 1e-3], "dropout": [0.1, 0.2, 0.3]},
    # meds-tab's XGBoost (defaults: XGBoost's eta 0.3 and depth 6, codes seen 10 times) within
    # the ranges of meds-tab's own sweep; each setting runs the whole meds-tab pipeline
    "meds_tab": {"eta": [0.03, 0.1, 0.3], "max_depth": [3, 6, 9],
                 "min_code_inclusion_count": [1, 10]},
}

# the fast recipe is the same network: the same grid around its own settings
GRIDS["medfuse_fast"] = GRIDS["medfuse"]

#: Registered models fitted as they are, with the reason (they are fixed configurations:
#: tuning them would make them other models).
FIXED: dict[str, str] = {
    "medfuse_paper": "the paper's configuration, every parameter pinned",
    "medfuse_recommended": "the recommended P12 configuration (docs/p12-report.md), pinned",
    "medfuse_distributed": "the medfuse model for several processes; tune medfuse instead",
}


def setting_key(setting: Mapping[str, Any]) -> str:
    """A short, stable name of a setting for file names: ``defaults`` or a hash."""
    if not setting:
        return "defaults"
    text = json.dumps({k: setting[k] for k in sorted(setting)}, default=repr)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def describe_setting(setting: Mapping[str, Any]) -> str:
    """``defaults`` or ``max_depth=3, learning_rate=0.1``."""
    return ", ".join(f"{k}={v!r}" for k, v in setting.items()) or "defaults"


def _resolve(model: Any, key: str) -> list[str]:
    """The keys of ``model.get_params()`` that ``key`` names (exact, or nested ``*__key``)."""
    params = model.get_params(deep=True)
    if key in params:
        return [key]
    return [k for k in params if k.endswith(f"__{key}")]


def apply_setting(model: Any, setting: Mapping[str, Any], name: str = "the model") -> Any:
    """Set every parameter of ``setting`` on ``model`` (see the module docstring); returns it.

    Raises
    ------
    ValueError
        A key names no parameter of the model.
    """
    for key, value in setting.items():
        found = _resolve(model, key)
        if not found:
            raise ValueError(f"the grid of {name} names parameter {key!r}, which "
                             f"{type(model).__name__} does not have; fix GRIDS[{name!r}] in "
                             "medfuse_sk/benchmark/_grids.py")
        model.set_params(**dict.fromkeys(found, value))
    return model


def _current(model: Any, key: str) -> Any:
    params = model.get_params(deep=True)
    found = _resolve(model, key)
    return params[found[0]] if found else object()


def grid_settings(name: str, model: Any, max_settings: int = MAX_SETTINGS) -> list[dict[str, Any]]:
    """The settings tried for the registered model ``name``: ``{}`` (its defaults) first, then
    at most ``max_settings`` of its grid (see the module docstring).

    Parameters
    ----------
    name : str
        Registry name; a name without a grid gets ``[{}]``.
    model : estimator
        The model as its factory builds it: each grid key is checked against it, and a drawn
        setting equal to its defaults is dropped.
    max_settings : int, default 8
        At most :data:`MAX_SETTINGS`; 0 fits the defaults only.
    """
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    if not 0 <= max_settings <= MAX_SETTINGS:
        raise ValueError(f"max_settings must lie in [0, {MAX_SETTINGS}] (the equal tuning budget), "
                         f"got {max_settings}")
    grid = GRIDS.get(name)
    if not grid or max_settings == 0:
        return [{}]
    for key in grid:
        if not _resolve(model, key):
            apply_setting(model, {key: grid[key][0]}, name)  # raises, naming the key
    every = list(ParameterGrid(grid))
    drawn = (every if len(every) <= max_settings
             else list(ParameterSampler(grid, n_iter=max_settings, random_state=0)))
    settings: list[dict[str, Any]] = [{}]
    for setting in drawn:
        ordered = {k: setting[k] for k in grid}
        if all(_same(_current(model, k), v) for k, v in ordered.items()):
            continue  # the defaults again
        settings.append(ordered)
    return settings


def _same(a: Any, b: Any) -> bool:
    try:
        equal = a == b
    except Exception:  # values without a plain ==
        return False
    return isinstance(equal, bool) and equal


def check_pins(name: str, model: Any, pins: Mapping[str, Any]) -> None:
    """Raise ValueError, naming it, for a pinned key that is no parameter of ``model``."""
    for key in pins:
        if not _resolve(model, key):
            close = difflib.get_close_matches(key, [k.rsplit("__", 1)[-1] for k in
                                                    model.get_params(deep=True)], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"pinned parameter {key!r} of {name}: {type(model).__name__} has "
                             f"no such parameter{hint}")


def pinned_settings(name: str, model: Any, pins: Mapping[str, Any],
                    max_settings: int = MAX_SETTINGS) -> list[dict[str, Any]]:
    """:func:`grid_settings` of ``model`` with ``pins`` set on every setting (a smaller budget,
    say ``max_epochs``, that the whole run keeps; :func:`check_pins` them first). Pins win over
    the grid; settings that become equal are tried once."""
    apply_setting(model, pins, name)
    settings: dict[str, dict[str, Any]] = {}
    for setting in grid_settings(name, model, max_settings):
        merged = {**setting, **pins}
        settings.setdefault(setting_key(merged), merged)
    return list(settings.values())
