"""Tree models on per-stay aggregates: XGBoost that stops on its own share of the stays, and a
Random Forest, each a Pipeline that takes events (:class:`~medfuse_sk.data.StayAggregates` first).

Their fitted trees are kept as plain data — XGBoost's own JSON model, the forest's tree arrays —
so that either Pipeline saves as a safe model file (:func:`medfuse_sk.io.save_model`: JSON and
safetensors, no pickle) and predicts after loading exactly as before saving.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.utils.validation import check_is_fitted

from ...data import StayAggregates
from ._stopping import EarlyStoppedBooster, import_booster

__all__ = ["AggregateRandomForest", "AggregateSimpleImputer", "EarlyStoppedXGBClassifier",
           "make_xgboost", "make_random_forest"]


def _import_xgboost():
    return import_booster("xgboost", "xgboost", "bench")


class EarlyStoppedXGBClassifier(EarlyStoppedBooster):
    """XGBoost that picks its number of trees on a stratified share of its own training rows.

    ``fit(X, y)`` needs nothing else: ``validation_fraction`` of the rows (stratified, drawn
    with ``random_state``) is held out and boosting stops once the held-out AUPRC has not
    improved for ``early_stopping_rounds`` rounds; the trees up to the best round are kept.
    ``validation_fraction=0`` (or ``early_stopping_rounds=None``) fits ``n_estimators`` trees
    on every row.

    Parameters
    ----------
    n_estimators, learning_rate, max_depth, subsample, colsample_bytree, n_jobs
        Passed to ``xgboost.XGBClassifier`` (``tree_method="hist"``).
    validation_fraction : float, default 0.1
    early_stopping_rounds : int or None, default 100
    random_state : int, default 0
    xgb_params : dict, optional
        Any other ``XGBClassifier`` argument.

    Attributes
    ----------
    classes_ : ndarray
    best_iteration_ : int
        Number of trees used for prediction, minus one.
    booster_model_ : str
        The trees in XGBoost's own JSON model format (what ``Booster.save_raw("json")`` writes),
        so that a Pipeline holding this model saves as a safe model file and pickles.
    n_features_in_ : int
    model_ : xgboost.XGBClassifier
        The fitted classifier (read from ``booster_model_`` after loading or unpickling).
    """

    def __init__(self, n_estimators: int = 2000, learning_rate: float = 0.02, max_depth: int = 5,
                 subsample: float = 0.8, colsample_bytree: float = 0.6, n_jobs: int = 2,
                 validation_fraction: float = 0.1, early_stopping_rounds: int | None = 100,
                 random_state: int = 0, xgb_params: dict[str, Any] | None = None) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.n_jobs = n_jobs
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.xgb_params = xgb_params

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> EarlyStoppedXGBClassifier:
        xgboost = _import_xgboost()
        X, y, weights, stop = self._fit_inputs(X, y, sample_weight)
        model = xgboost.XGBClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            max_depth=self.max_depth, subsample=self.subsample,
            colsample_bytree=self.colsample_bytree, tree_method="hist", eval_metric="aucpr",
            early_stopping_rounds=self.early_stopping_rounds if stop else None,
            n_jobs=self.n_jobs, random_state=self.random_state, **(self.xgb_params or {}))
        if stop:
            X_fit, X_stop, y_fit, y_stop, fit_weights = self._stopping_split(X, y, weights)
            model.fit(X_fit, y_fit, sample_weight=fit_weights, eval_set=[(X_stop, y_stop)],
                      verbose=False)
            self.best_iteration_ = int(model.best_iteration)
        else:
            model.fit(X, y, sample_weight=weights, verbose=False)
            self.best_iteration_ = self.n_estimators - 1
        self.booster_model_ = model.get_booster().save_raw(raw_format="json").decode("utf-8")
        self.n_features_in_ = X.shape[1]
        self._model = model
        return self

    @property
    def model_(self) -> Any:
        """The fitted ``xgboost.XGBClassifier`` (built from ``booster_model_`` where it is not
        held: after :func:`~medfuse_sk.io.load_model` or unpickling)."""
        held = self.__dict__.get("_model")
        if held is None:
            if "booster_model_" not in self.__dict__:
                raise AttributeError(f"this {type(self).__name__} is not fitted: no model_")
            held = _import_xgboost().XGBClassifier(n_jobs=self.n_jobs)
            held.load_model(bytearray(self.booster_model_.encode("utf-8")))
            self._model = held
        return held

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "booster_model_")
        # the trees up to the best round, as XGBClassifier does after early stopping
        return self.model_.predict_proba(np.asarray(X, dtype=np.float64),
                                         iteration_range=(0, self.best_iteration_ + 1))


class AggregateSimpleImputer(SimpleImputer):
    """scikit-learn's :class:`~sklearn.impute.SimpleImputer` for NaN, under a name of this
    library whose parameters and fitted state are plain data, so that a safe model file may
    name it: missing values are always NaN (how the aggregates mark absence; plain JSON has no
    NaN, so ``missing_values`` is no parameter), and the dtypes it keeps privately are held as
    text (``fit_dtype_``, ``fill_dtype_``)."""

    def __init__(self, *, strategy: str = "mean", fill_value: Any = None, copy: bool = True,
                 add_indicator: bool = False, keep_empty_features: bool = False) -> None:
        super().__init__(missing_values=np.nan, strategy=strategy, fill_value=fill_value,
                         copy=copy, add_indicator=add_indicator,
                         keep_empty_features=keep_empty_features)

    @property
    def _fit_dtype(self) -> np.dtype:
        return np.dtype(self.fit_dtype_)

    @_fit_dtype.setter
    def _fit_dtype(self, dtype: Any) -> None:
        self.fit_dtype_ = np.dtype(dtype).str

    @property
    def _fill_dtype(self) -> np.dtype:
        return np.dtype(self.fill_dtype_)

    @_fill_dtype.setter
    def _fill_dtype(self, dtype: Any) -> None:
        self.fill_dtype_ = np.dtype(dtype).str


class AggregateRandomForest(RandomForestClassifier):
    """scikit-learn's :class:`~sklearn.ensemble.RandomForestClassifier` whose fitted trees are
    plain arrays, so that a safe model file may hold it.

    Fitting is scikit-learn's, unchanged (probabilities too, summed over the trees in their
    order, so that they do not depend on ``n_jobs``); afterwards every tree's state (``Tree.__getstate__``:
    its nodes — children, feature, threshold, impurity, sample counts, where missing values
    go — and the values at the nodes) is kept in ``trees_``, one array per node field over the
    trees laid end to end. ``estimators_`` is rebuilt from them, bit for bit, where it is not
    held (after :func:`~medfuse_sk.io.load_model` or unpickling).

    Attributes
    ----------
    trees_ : dict of str to ndarray
        ``node_count``, ``max_depth``, ``random_state`` and ``max_features`` (one per tree),
        each node field (one per node, the trees in order) and ``value`` (one row per node).
    estimators_ : list of DecisionTreeClassifier
    classes_, n_classes_, n_outputs_, n_features_in_ :
        As scikit-learn's.
    """

    @property
    def estimators_(self) -> list[Any]:
        held = self.__dict__.get("_estimators")
        if held is None:
            if "trees_" not in self.__dict__:
                raise AttributeError(f"this {type(self).__name__} is not fitted: no estimators_")
            held = self._rebuild_trees()
            self.__dict__["_estimators"] = held
        return held

    @estimators_.setter
    def estimators_(self, value: list[Any]) -> None:
        self.__dict__["_estimators"] = value

    @property
    def estimator_(self) -> Any:
        """The tree every member is cloned from (a plain ``DecisionTreeClassifier``)."""
        held = self.__dict__.get("_estimator")
        if held is None:
            if "trees_" not in self.__dict__:
                raise AttributeError(f"this {type(self).__name__} is not fitted: no estimator_")
            held = clone(self.estimator)
            self.__dict__["_estimator"] = held
        return held

    @estimator_.setter
    def estimator_(self, value: Any) -> None:
        self.__dict__["_estimator"] = value

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> AggregateRandomForest:
        super().fit(X, y, sample_weight=sample_weight)
        self.trees_ = _tree_arrays(self.estimators_)
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        for held in ("_estimators", "_estimator"):  # the trees travel once, as trees_
            state.pop(held, None)
        return state

    def predict_proba(self, X: Any) -> np.ndarray:
        """The trees' mean probabilities, summed in the trees' order whatever ``n_jobs``: the
        same numbers on every call (scikit-learn's forest adds each tree as its thread
        finishes, which may change the last bit), equal to scikit-learn's with ``n_jobs=1``."""
        from joblib import Parallel, delayed, effective_n_jobs

        check_is_fitted(self)
        if self.n_outputs_ != 1:
            return super().predict_proba(X)
        X = self._validate_X_predict(X)
        trees = self.estimators_
        jobs = effective_n_jobs(self.n_jobs)
        total = np.zeros((X.shape[0], int(self.n_classes_)), dtype=np.float64)
        step = 8 * jobs  # trees predicted at once: their outputs are held until added
        with Parallel(n_jobs=jobs, prefer="threads", verbose=self.verbose) as parallel:
            for start in range(0, len(trees), step):
                for proba in parallel(delayed(tree.predict_proba)(X, check_input=False)
                                      for tree in trees[start:start + step]):
                    total += proba
        total /= len(trees)
        return total

    def _rebuild_trees(self) -> list[Any]:
        from sklearn.tree._tree import Tree

        arrays = self.trees_
        n_classes = np.atleast_1d(np.asarray(self.n_classes_, dtype=np.intp))
        layout = Tree(self.n_features_in_, n_classes, self.n_outputs_).__getstate__()["nodes"].dtype
        missing = [f for f in layout.names if f not in arrays]
        if missing:
            raise ValueError(f"{type(self).__name__}.trees_ lacks the node fields {missing} of "
                             "this scikit-learn's trees: the model was saved with another "
                             "scikit-learn version; refit it")
        ends = np.cumsum(arrays["node_count"])
        trees = []
        for k, (end, count) in enumerate(zip(ends, arrays["node_count"])):
            rows = slice(int(end - count), int(end))
            nodes = np.empty(int(count), dtype=layout)
            for name in layout.names:
                nodes[name] = arrays[name][rows]
            tree = Tree(self.n_features_in_, n_classes, self.n_outputs_)
            tree.__setstate__({"max_depth": int(arrays["max_depth"][k]),
                               "node_count": int(count), "nodes": nodes,
                               "values": np.ascontiguousarray(arrays["value"][rows])})
            member = clone(self.estimator_).set_params(
                **{**{p: getattr(self, p) for p in self.estimator_params},
                   "random_state": int(arrays["random_state"][k])})
            member.n_features_in_ = self.n_features_in_
            member.n_outputs_ = self.n_outputs_
            member.classes_ = self.classes_
            member.n_classes_ = self.n_classes_
            member.max_features_ = int(arrays["max_features"][k])
            member.tree_ = tree
            trees.append(member)
        return trees


def _tree_arrays(trees: list[Any]) -> dict[str, np.ndarray]:
    """The fitted trees' states as plain arrays (see :class:`AggregateRandomForest`)."""
    states = [tree.tree_.__getstate__() for tree in trees]
    nodes = np.concatenate([state["nodes"] for state in states])
    arrays = {name: np.ascontiguousarray(nodes[name]) for name in nodes.dtype.names}
    arrays["value"] = np.concatenate([state["values"] for state in states])
    arrays["node_count"] = np.array([state["node_count"] for state in states], dtype=np.int64)
    arrays["max_depth"] = np.array([state["max_depth"] for state in states], dtype=np.int64)
    arrays["random_state"] = np.array([tree.random_state for tree in trees], dtype=np.int64)
    arrays["max_features"] = np.array([tree.max_features_ for tree in trees], dtype=np.int64)
    return arrays


def make_xgboost(random_state: int = 0, n_estimators: int = 2000, **params: Any):
    """Pipeline: aggregates → XGBoost (NaN left to the trees; hist, depth 5, lr 0.02).

    ``fit(X, y)`` on a long table or an :class:`EventSet` needs no evaluation set: the number
    of trees is chosen on a stratified 10 % of the training stays
    (:class:`EarlyStoppedXGBClassifier`; its parameters, e.g. ``validation_fraction=0``,
    are accepted as keyword arguments, any other keyword goes to ``XGBClassifier`` through its
    ``xgb_params``). Saves as a safe model file.
    """
    from sklearn.pipeline import make_pipeline

    _import_xgboost()  # fail here, at construction, rather than deep inside a later fit
    own = {k: params.pop(k) for k in list(params)
           if k in EarlyStoppedXGBClassifier().get_params()}
    passed = {**(own.pop("xgb_params", None) or {}), **params}
    model = EarlyStoppedXGBClassifier(n_estimators=n_estimators, random_state=random_state,
                                      xgb_params=passed or None, **own)
    return make_pipeline(StayAggregates(), model)


def make_random_forest(random_state: int = 0, n_estimators: int = 500, **params: Any):
    """Pipeline: aggregates → median imputation → Random Forest (500 trees, at least 2 stays
    per leaf, balanced subsamples, 2 threads).

    Keywords of :class:`~sklearn.impute.SimpleImputer` go to the imputer, any other to
    :class:`~sklearn.ensemble.RandomForestClassifier` (:class:`AggregateRandomForest`, whose
    trees are plain arrays: the Pipeline saves as a safe model file).
    """
    from sklearn.pipeline import Pipeline

    imputer = {"strategy": "median", "keep_empty_features": True,
               **{k: params.pop(k) for k in list(params)
                  if k in AggregateSimpleImputer().get_params()}}
    forest = AggregateRandomForest(**{"min_samples_leaf": 2, "n_jobs": 2,
                                      "class_weight": "balanced_subsample", **params},
                                   n_estimators=n_estimators, random_state=random_state)
    # the step names of make_pipeline over sklearn's classes, as before these subclasses
    return Pipeline([("stayaggregates", StayAggregates()),
                     ("simpleimputer", AggregateSimpleImputer(**imputer)),
                     ("randomforestclassifier", forest)])
