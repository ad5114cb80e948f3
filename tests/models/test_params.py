"""One parameter spec: every parameter validated at fit, defaults shared with the building
blocks, the recommended / paper configurations written as differences from it."""

import inspect

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import (
    InvalidParameterError,
    generate_invalid_param_val,
    make_constraint,
)
from skorch.helper import predefined_split
from synthetic import TINY, u_shaped_task

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.models import (
    ARCHITECTURE,
    DEFAULTS,
    PARAMS,
    MedFuseModule,
    MedFusePretrainer,
    MuFuseEmbedding,
    TokenDataset,
    check_fusion,
)

ONE_EPOCH = {**TINY, "max_epochs": 1}  # these fits check parameters, not training

#: A bad value for every parameter; where scikit-learn can generate one from a constraint,
#: those are tried too. The issue's list of values a new user tried comes first.
BAD = {
    "n_models": [0, -3, 2.5],
    "token_dropout": [1.5, -0.1, 1.0],
    "d_model": [0, 16.0],
    "n_heads": [0],
    "max_epochs": [0],
    "batch_size": [0],
    "lr": [-1e-3, 0.0],
    "fusion": ["mul", (), ("mufuse", "mul"), "MuFuse"],
    "partition_factor": [0],
    "gate": ["relu"],
    "value_hidden": [0],
    "activation": ["gelu"],
    "projector_gain": [0.0, -1.0],
    "beta_init": [float("nan"), "1"],
    "time_encoding": ["yes"],
    "kernel": ["cuda"],
    "n_layers": [0],
    "dim_feedforward": [0],
    "dropout": [1.0, -0.5],
    "norm_first": [1.5],
    "pooling": ["max"],
    "series_summary": ["no"],
    "static_branch": ["yes", 2],
    "loss": ["mse"],
    "class_weight": ["auto", -2.0, 0.0],
    "lr_schedule": ["linear"],
    "warmup_epochs": [-1.0],
    "weight_decay": [-0.1],
    "patience": [0, 2.5],
    "weight_averaging": [1.0, 0.0, 1.5],
    "valid_size": [1.0, -0.2],
    "train_split": ["val", 0.2],
    "device": ["gpu", 3],
    "random_state": [-1, 2**32, 1.5],
    "verbose": [-1],
    "tokenizer": ["window=2"],
    "stay": [["stay_id"]],
    "time": [["t"]],
    "time_unit": ["minutes", "H", None],
    "feature": [{}],
    "value": [[]],
    "categorical": ["Gender"],
    "module": ["MedFuseModule"],
    "criterion": ["bce"],
    "optimizer": ["adam"],
}


@pytest.fixture(scope="module")
def task():
    return u_shaped_task(n_stays=40, seed=0)


def _cases():
    constraints = MedFuseClassifier._parameter_constraints
    for name, options in constraints.items():
        values = list(BAD.get(name, []))
        for constraint in map(make_constraint, options):
            try:
                value = generate_invalid_param_val(constraint)
            except NotImplementedError:
                continue
            if not any(make_constraint(c).is_satisfied_by(value) for c in options):
                values.append(value)
        for value in values:
            yield pytest.param(name, value, id=f"{name}={value!r}")


def test_every_parameter_has_a_constraint_and_a_bad_value():
    constraints = MedFuseClassifier._parameter_constraints
    signature = inspect.signature(MedFuseClassifier).parameters
    named = [n for n, p in signature.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    assert set(constraints) == set(named)
    assert set(BAD) == set(constraints), "add a bad value for each new parameter to BAD"


def test_time_unit_takes_the_units_the_event_reader_takes():
    from medfuse_sk.data import TIME_UNITS

    (options,) = MedFuseClassifier._parameter_constraints["time_unit"]
    assert options.options == set(TIME_UNITS)
    assert MedFuseClassifier().time_unit == "h"


@pytest.mark.parametrize("name, value", list(_cases()))
def test_a_bad_value_is_an_error_naming_parameter_value_and_allowed(task, name, value):
    events, labels = task
    clf = MedFuseClassifier(**{**ONE_EPOCH, name: value})
    with pytest.raises(InvalidParameterError) as info:
        clf.fit(events, labels)
    message = str(info.value)
    assert f"The {name!r} parameter of MedFuseClassifier must be" in message
    assert f"Got {value!r} instead" in message
    assert not hasattr(clf, "module_")  # refused before any work


@pytest.mark.parametrize("settings, message", [
    (dict(d_model=30, n_heads=4), "d_model=30 must be a multiple of n_heads=4"),
    (dict(d_model=16, n_heads=2, partition_factor=3), "multiple of partition_factor=3"),
    (dict(fusion=("mufuse", "add"), n_models=3), "n_models=3 must be 1"),
    (dict(callbacks__early_stopping__patience=3), "patience="),
])
def test_parameters_that_must_agree(task, settings, message):
    events, labels = task
    with pytest.raises(InvalidParameterError, match=message):
        MedFuseClassifier(**{**ONE_EPOCH, **settings}).fit(events, labels)


def test_valid_size_with_a_train_split_is_an_error(task):
    events, labels = task
    X = EventSet.from_long(events)
    tokens = EventTokenizer().fit_transform(X)
    split = predefined_split(TokenDataset(tokens, labels.loc[X.stay_ids].to_numpy()))
    clf = MedFuseClassifier(**{**ONE_EPOCH, "train_split": split, "valid_size": 0.2})
    with pytest.raises(InvalidParameterError, match="valid_size=0.2 has no effect"):
        clf.fit(tokens, labels.loc[X.stay_ids])
    # the default valid_size with a train_split is fine, and the split is used
    clf = MedFuseClassifier(**{**ONE_EPOCH, "train_split": split}).fit(tokens, labels.loc[X.stay_ids])
    assert "valid_auprc" in clf.history[-1]


def _fusions(clf):
    return tuple(m.embedding.fusion for m in getattr(clf.module_, "members", [clf.module_]))


@pytest.mark.parametrize("settings, read, expected", [
    (dict(fusion=["mufuse", "scane"]), _fusions, ("mufuse", "scane")),
    (dict(fusion=("add", "concat"), n_models=4), _fusions, ("add", "concat", "add", "concat")),
    (dict(class_weight=2.0, random_state=np.int64(3), device=torch.device("cpu")),
     lambda clf: (clf.criterion_.pos_weight, clf.seed_,
                  {p.device.type for p in clf.module_.parameters()}),
     (2.0, 3, {"cpu"})),
    (dict(categorical=("K",), patience=None, dim_feedforward=8, verbose=False),
     lambda clf: (list(clf.tokenizer_.categorical_features_),
                  clf.module_.layers[0].ff1.out_features, "early_stopping" in dict(clf.callbacks_)),
     (["K"], 8, False)),
], ids=["fusion-list", "fusion-tuple-cycled", "numpy-int-and-device", "categorical-None-bool"])
def test_good_values_of_every_kind_are_accepted_and_take_effect(task, settings, read, expected):
    events, labels = task
    clf = MedFuseClassifier(**{**ONE_EPOCH, **settings}).fit(events, labels)
    assert read(clf) == expected
    assert np.isfinite(clf.predict_proba(events)).all()


def test_the_module_built_directly_is_the_estimators_model():
    """Same defaults: a MedFuseModule built with only the vocabulary sizes is, weight for
    weight, the network the estimator builds with its defaults."""
    clf = MedFuseClassifier(verbose=0)
    clf.feature_names_, clf.n_categories_ = np.array(["<empty>", "K", "Na", "HR"]), 1
    torch.manual_seed(0)
    from_estimator = clf.initialize().module_
    torch.manual_seed(0)
    direct = MedFuseModule(n_features=4, n_categories=1)
    assert repr(direct) == repr(from_estimator)
    for (name, a), (_, b) in zip(direct.state_dict().items(),
                                 from_estimator.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    embedding = MuFuseEmbedding(4, 1, DEFAULTS["d_model"])
    for name in ("gate", "fusion", "partition_factor", "activation", "kernel"):
        assert getattr(embedding, name) == PARAMS[name].default
    assert torch.all(embedding.beta == PARAMS["beta_init"].default)


def test_signature_and_docstring_come_from_the_spec():
    signature = inspect.signature(MedFuseClassifier).parameters
    for name, p in PARAMS.items():
        assert signature[name].default == p.default or (p.default is None
                                                        and signature[name].default is None)
        assert f"    {name} : " in MedFuseClassifier.__doc__
    clf = MedFuseClassifier(n_models=2)
    assert clf.n_models == 2 and clf.d_model == PARAMS["d_model"].default
    assert clf.get_params()["lr"] == PARAMS["lr"].default  # skorch's own, from the spec too


#: Pre-trainer parameters whose defaults deliberately differ from the classifier's (its
#: learning rate stays the one its pre-training was measured with, docs/transfer.md).
PRETRAINER_OWN_DEFAULTS = {"max_epochs", "valid_size", "lr"}


def test_the_pretrainer_shares_the_classifiers_defaults():
    """The pre-trainer's network must match the classifier it hands its weights to: every
    parameter it shares with the spec has the spec's default (read, not copied)."""
    pretrainer = inspect.signature(MedFusePretrainer).parameters
    shared = (set(pretrainer) & set(PARAMS)) - PRETRAINER_OWN_DEFAULTS
    assert set(ARCHITECTURE) <= shared and set(ARCHITECTURE) <= set(DEFAULTS)
    differ = {name: (pretrainer[name].default, PARAMS[name].default) for name in sorted(shared)
              if pretrainer[name].default != PARAMS[name].default}
    assert not differ, f"MedFusePretrainer defaults differ from the spec: {differ}"
    built = MedFusePretrainer().architecture()
    assert built == {name: PARAMS[name].default for name in ARCHITECTURE}


def test_check_fusion_is_the_one_check_of_a_fusion():
    assert check_fusion("add") == ("add",)
    assert check_fusion(["mufuse", "scane"]) == ("mufuse", "scane")
    for bad in ("mul", (), ["mufuse", "mul"], 3):
        with pytest.raises(ValueError, match=r"fusion must be one of \('mufuse'"):
            check_fusion(bad)
    with pytest.raises(ValueError, match="got \\('add',\\)"):
        check_fusion(("add",), several=False)
    with pytest.raises(ValueError, match="fusion must be one of"):  # the embedding calls it
        MuFuseEmbedding(4, 0, 16, fusion=("add",))
    with pytest.raises(ValueError, match="fusion must be one of"):  # and the pre-trainer
        MedFusePretrainer(fusion=("add", "concat")).fit(u_shaped_task(20)[0])


@pytest.mark.parametrize("n_stays", [60, 3_750, 3_751, 7_680, 9_375, 9_376, 10_301, 200_000])
def test_auto_epochs_see_about_75000_stays_within_8_to_20(n_stays):
    assert MedFuseClassifier().max_epochs == "auto"
    expected = min(20, max(8, -(-75_000 // n_stays)))
    assert MedFuseClassifier().epochs_for(n_stays) == expected
    assert MedFuseClassifier(max_epochs=3).epochs_for(n_stays) == 3
    # with a validation share, the stays trained on are those left
    held = MedFuseClassifier(valid_size=0.1).epochs_for(n_stays)
    assert held == min(20, max(8, -(-75_000 // (n_stays - -(-n_stays // 10)))))


def test_an_auto_fit_trains_its_epochs_and_the_schedule_ends_with_them():
    X, y = u_shaped_task(n_stays=60)
    clf = MedFuseClassifier(**{**TINY, "max_epochs": "auto"}, random_state=0).fit(X, y)
    assert clf.n_epochs_ == 20 and len(clf.history_) == 20
    lrs = [lr for epoch in clf.history_[:, "batches", :, "event_lr"] for lr in epoch]
    assert lrs[-1] < 0.01 * max(lrs)  # the cosine reached its end at the last batch
    assert MedFuseClassifier(**TINY, random_state=0).fit(X, y).n_epochs_ == TINY["max_epochs"]


@pytest.mark.parametrize("epochs", [None, 8, 10, 11, 15, 20])
def test_auto_lr_keeps_lr_times_epochs_at_0_02_below_2e_3(epochs):
    clf = MedFuseClassifier()
    assert clf.lr == "auto"
    expected = 2e-3 if epochs is None else min(2e-3, 0.02 / epochs)
    assert clf.lr_for(epochs) == pytest.approx(expected)
    assert MedFuseClassifier(lr=5e-4).lr_for(epochs) == 5e-4


@pytest.mark.parametrize("n_stays, lr", [(60, 1e-3), (7_680, 2e-3)])
def test_an_auto_fit_builds_its_optimizer_with_the_rate_of_its_epochs(n_stays, lr, monkeypatch):
    clf = MedFuseClassifier(**{**TINY, "max_epochs": "auto"}, random_state=0)
    monkeypatch.setattr(clf, "epochs_for", lambda n: 20 if n_stays < 3_750 else 10)
    X, y = u_shaped_task(n_stays=60)
    clf.fit(X, y)
    assert clf.lr_ == pytest.approx(lr)
    assert clf.optimizer_.param_groups[0]["initial_lr"] == pytest.approx(lr)
