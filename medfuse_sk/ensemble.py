"""Our models combined the scikit-learn way: soft voting and cross-validated stacking.

Every model of the library takes the same input (a long table or an :class:`EventSet`), so
scikit-learn's own :class:`~sklearn.ensemble.VotingClassifier` and
:class:`~sklearn.ensemble.StackingClassifier` combine them as they are: MedFuse networks of
different fusions, the aggregate-based XGBoost and Random Forest, and GRU-D where PyPOTS is
installed. These factories only choose the members and sensible defaults.

Several MedFuse networks are best given as **one** member whose ``fusion`` is a tuple
(``MedFuseClassifier(fusion=("mufuse", "concat", "scane"))``): the networks then share one
tokenisation, one batch order and one pass over the data, instead of each member repeating
them. On several cores, :func:`split_networks` cuts such a member into parts that
:func:`make_voting`'s ``n_jobs`` fits side by side, one process per core.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

__all__ = ["default_members", "split_networks", "make_voting", "make_stacking"]

#: The fusions of the default heterogeneous MedFuse member.
FUSIONS = ("mufuse", "add", "concat", "scane")


def default_members(
    fusions: Sequence[str] = FUSIONS,
    *,
    xgboost: bool = True,
    grud: bool = False,
    random_state: int | None = 0,
    **medfuse_params: Any,
) -> list[tuple[str, Any]]:
    """``(name, estimator)`` pairs: one heterogeneous MedFuse member, XGBoost and GRU-D if asked.

    Parameters
    ----------
    fusions : sequence of fusion names
        One network per fusion inside a single :class:`MedFuseClassifier`.
    xgboost : bool, default True
        Add the registry's ``xgboost`` (:func:`~medfuse_sk.models.make_xgboost`; needs the
        ``xgboost`` package).
    grud : bool, default False
        Add the registry's ``grud`` (:func:`~medfuse_sk.models.make_grud`: GRU-D on an hourly
        grid of the first 48 h, channels inferred from the training events; needs ``pypots``).
    random_state : int or None
    **medfuse_params
        Any :class:`MedFuseClassifier` parameter (``tokenizer=``, ``max_epochs=``, ...).
    """
    from .models import create_model

    fusion = fusions[0] if len(fusions) == 1 else tuple(fusions)
    seed = 0 if random_state is None else random_state  # the baselines need an integer
    members: list[tuple[str, Any]] = [
        ("medfuse", create_model("medfuse", fusion=fusion, random_state=random_state,
                                 **medfuse_params))]
    for name, wanted in (("xgboost", xgboost), ("grud", grud)):
        if wanted:
            members.append((name, create_model(name, random_state=seed)))
    return members


def split_networks(name: str, estimator: Any, n_parts: int) -> list[tuple[str, Any, float]]:
    """Cut a MedFuse member whose module holds several networks into ``n_parts`` members.

    Part ``i`` is a clone of ``estimator`` holding a contiguous share of its fusions (one
    network each), named ``name`` for the first part and ``f"{name}{i + 1}"`` after it, with
    the same ``random_state``. Its weight is its share of the networks, so that soft voting
    with these weights counts the networks as the whole member did: one vote, the mean of
    its networks' probabilities. The parts repeat the tokenisation and the pass over the
    data; fitted in parallel (``make_voting(..., n_jobs=n_parts)``) they use ``n_parts``
    cores instead of the threads of one process, which on CPU trains small networks faster.

    Parameters
    ----------
    name : the member's name
    estimator : MedFuseClassifier with a tuple of fusions and ``n_models`` left at 1
    n_parts : int
        At most the number of networks; 1 returns the member as it is.

    Returns
    -------
    list of ``(name, estimator, weight)``
    """
    from sklearn.base import clone

    fusions = (estimator.fusion,) if isinstance(estimator.fusion, str) else tuple(
        estimator.fusion)
    if int(n_parts) != n_parts or not 1 <= n_parts <= len(fusions):
        raise ValueError(f"n_parts must be an integer between 1 and the {len(fusions)} "
                         f"networks of {name!r}, got {n_parts!r}")
    if n_parts == 1:
        return [(name, estimator, 1.0)]
    if getattr(estimator, "n_models", 1) != 1:
        raise ValueError(f"{name!r} cycles n_models={estimator.n_models} networks through its "
                         "fusions; split_networks needs one network per fusion (n_models=1)")
    bounds = [round(i * len(fusions) / n_parts) for i in range(n_parts + 1)]
    parts = []
    for i, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
        share = fusions[start:stop]
        part = clone(estimator).set_params(fusion=share[0] if len(share) == 1 else share)
        parts.append((name if i == 0 else f"{name}{i + 1}", part, len(share) / len(fusions)))
    return parts


def make_voting(
    estimators: Sequence[tuple[str, Any]] | None = None,
    *,
    weights: Sequence[float] | None = None,
    n_jobs: int | None = None,
    verbose: bool = False,
    random_state: int | None = 0,
    **member_params: Any,
) -> VotingClassifier:
    """Soft voting: the (weighted) mean of the members' probabilities.

    Each member is fitted once on all the training stays; nothing is learned on top, so
    there is nothing to cross-validate. ``estimators=None`` takes :func:`default_members`
    (``member_params`` go there). ``n_jobs`` members are fitted at once, each in its own
    process (joblib's loky backend, which gives each process ``cores // n_jobs`` threads);
    ``verbose`` prints each member's fit time.
    """
    if estimators is None:
        estimators = default_members(random_state=random_state, **member_params)
    elif member_params:
        raise TypeError(f"member parameters {sorted(member_params)} apply only to the default "
                        "members (estimators=None)")
    return VotingClassifier(list(estimators), voting="soft", weights=weights, n_jobs=n_jobs,
                            verbose=verbose)


def make_stacking(
    estimators: Sequence[tuple[str, Any]] | None = None,
    *,
    cv: int = 5,
    final_estimator: Any = None,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    **member_params: Any,
) -> StackingClassifier:
    """Cross-validated stacking on the training stays only.

    For each of ``cv`` stratified folds of the training stays, every member is fitted on the
    other folds and predicts the fold: these out-of-fold probabilities, computed without the
    fold's labels, train ``final_estimator`` (default: a logistic regression). The members
    are then refitted on all the training stays for prediction. The cost is ``cv + 1`` fits
    of every member.

    ``estimators=None`` takes :func:`default_members` (``member_params`` go there).
    """
    if estimators is None:
        estimators = default_members(random_state=random_state, **member_params)
    elif member_params:
        raise TypeError(f"member parameters {sorted(member_params)} apply only to the default "
                        "members (estimators=None)")
    folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    return StackingClassifier(list(estimators), final_estimator=final_estimator
                              or LogisticRegression(), cv=folds, stack_method="predict_proba",
                              n_jobs=n_jobs)
