import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks
from skorch import NeuralNetBinaryClassifier
from skorch.callbacks import Callback, LRScheduler
from skorch.helper import predefined_split
from synthetic import TINY, u_shaped_task
from torch.optim.lr_scheduler import LambdaLR

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.data import TokenSet
from medfuse_sk.models import MedFuseModule, TokenDataset

# fixtures from conftest.py: ``u_shaped`` (events, labels of 160 stays) and ``fitted_medfuse``
# (MedFuseClassifier(random_state=0, **TINY) fitted on them)


def test_the_readme_example_runs(u_shaped):
    """The issue's user code, verbatim in spirit: Pipeline, cross_val_score, GridSearchCV."""
    events, labels = u_shaped
    X = EventSet.from_long(events, stay="stay_id", time="time", feature="feature", value="value")
    y = labels.loc[X.stay_ids]
    pipe = make_pipeline(EventTokenizer(window=2.0, horizon=48.0),
                         MedFuseClassifier(random_state=0, **TINY))
    scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(3), scoring="average_precision")
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    grid = GridSearchCV(pipe, {"medfuseclassifier__fusion": ["mufuse", "add", "concat", "scane"],
                               "medfuseclassifier__partition_factor": [1, 4, 16]}, cv=2)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 12
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    best = grid.best_estimator_.named_steps["medfuseclassifier"]
    assert best.module_.embedding.fusion == grid.best_params_["medfuseclassifier__fusion"]
    assert grid.predict_proba(X).shape == (len(X), 2)


def test_predict_proba_rows_follow_the_input_stays(u_shaped, fitted_medfuse):
    events, labels = u_shaped
    proba = fitted_medfuse.predict_proba(events)
    order = pd.unique(events["stay_id"])
    assert proba.shape == (len(order), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    risk = fitted_medfuse.predict_risk(events)
    assert risk.index.tolist() == order.tolist()
    np.testing.assert_allclose(risk.to_numpy(), proba[:, 1])
    # the same stays in another order give the same per-stay probabilities
    shuffled = events.sample(frac=1.0, random_state=3)
    again = fitted_medfuse.predict_risk(shuffled)
    pd.testing.assert_series_equal(again.sort_index(), risk.sort_index())


def test_not_fitted_error():
    with pytest.raises(NotFittedError):
        MedFuseClassifier().predict_proba(u_shaped_task(10)[0])


def test_get_set_params_and_clone(fitted_medfuse):
    params = fitted_medfuse.get_params()
    for name in ("fusion", "partition_factor", "d_model", "lr", "max_epochs", "kernel",
                 "random_state", "batch_size", "dropout", "n_heads", "n_layers", "device"):
        assert name in params
    twin = clone(fitted_medfuse)
    assert twin.get_params()["d_model"] == 16 and not hasattr(twin, "module_")
    twin.set_params(fusion="scane", partition_factor=1, module__dim_feedforward=24)
    assert twin.fusion == "scane"
    twin.fit(*u_shaped_task(60, seed=2))
    assert twin.module_.embedding.fusion == "scane"
    assert twin.module_.layers[0].ff1.out_features == 24


def test_pickle_and_joblib_round_trips_predict_identically(u_shaped, fitted_medfuse):
    events, _ = u_shaped
    want = fitted_medfuse.predict_proba(events)
    back = pickle.loads(pickle.dumps(fitted_medfuse))
    np.testing.assert_array_equal(back.predict_proba(events), want)
    buffer = io.BytesIO()
    joblib.dump(fitted_medfuse, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(joblib.load(buffer).predict_proba(events), want)


def test_same_random_state_same_fit(u_shaped):
    events, labels = u_shaped
    a = MedFuseClassifier(random_state=7, **TINY).fit(events, labels).predict_proba(events)
    b = MedFuseClassifier(random_state=7, **TINY).fit(events, labels).predict_proba(events)
    c = MedFuseClassifier(random_state=8, **TINY).fit(events, labels).predict_proba(events)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_mufuse_learns_a_value_feature_interaction():
    """Risk is U-shaped in one lab's value: both too low and too high are dangerous."""
    events, labels = u_shaped_task(n_stays=600, seed=0)
    clf = MedFuseClassifier(d_model=32, partition_factor=1, lr=3e-3, max_epochs=15,
                            patience=None, random_state=0, verbose=0).fit(events, labels)
    test_events, test_labels = u_shaped_task(n_stays=300, seed=1)
    risk = clf.predict_risk(test_events)
    assert roc_auc_score(test_labels.loc[risk.index], risk) > 0.95


def test_labels_are_aligned_by_stay_id(u_shaped):
    events, labels = u_shaped
    shuffled = labels.sample(frac=1.0, random_state=0)
    a = MedFuseClassifier(random_state=1, **TINY).fit(events, labels).predict_proba(events)
    b = MedFuseClassifier(random_state=1, **TINY).fit(events, shuffled).predict_proba(events)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"no label for 2 stay\(s\): 1000, 1001"):
        MedFuseClassifier(**TINY).fit(events, labels.drop([1000, 1001]))


@pytest.mark.parametrize("labels, message", [
    (lambda y: y * 0, "single class"),
    (lambda y: y * 2, "binary"),
    (lambda y: y.to_numpy()[:-1], "one label per stay"),
])
def test_bad_labels(u_shaped, labels, message):
    events, y = u_shaped
    with pytest.raises(ValueError, match=message):
        MedFuseClassifier(**TINY).fit(events, labels(y))


def test_a_stay_without_events_is_predicted_as_a_lone_empty_token(fitted_medfuse):
    """A stay without events is read as one ``"<empty>"`` token (vocabulary id 0, value 0,
    time 0): its probability is exactly that of a stay given just that token."""
    X = EventSet.from_long(pd.DataFrame({"stay_id": [1, 1], "time": [0.0, 3.0],  # two windows
                                         "feature": ["K", "K"], "value": [2.5, 2.6]}),
                           stays=[1, 2])
    proba = fitted_medfuse.predict_proba(X)
    assert proba.shape == (2, 2) and np.isfinite(proba).all()
    tokens = fitted_medfuse.transform_tokens(X)
    assert tokens.lengths.tolist() == [2, 0] and tokens.feature_names[0] == "<empty>"
    lone = TokenSet(np.array([2]), np.array([0, 1]),
                    {"feature": np.zeros(1, np.int32), "value": np.zeros(1, np.float32),
                     "category": np.full(1, -1, np.int32), "time": np.zeros(1, np.float32)},
                    tokens.feature_names, tokens.n_categories)
    np.testing.assert_array_equal(proba[1], fitted_medfuse.predict_proba(lone)[0])
    assert not np.allclose(proba[0], proba[1])  # a stay with events is not read the same way


@pytest.mark.parametrize("class_weight", ["balanced", 3.0, None])
def test_class_weight_weights_the_positive_stays_in_the_loss(u_shaped, class_weight):
    """The training loss on a fixed batch is the BCE with positives weighted by
    ``n_negative / n_positive`` of the training labels ("balanced"), by the float given, or
    not at all, written out with numpy."""
    events, labels = u_shaped
    clf = MedFuseClassifier(random_state=0, class_weight=class_weight, **TINY).fit(events, labels)
    X = EventSet.from_long(events)
    y = labels.loc[X.stay_ids].to_numpy()
    n_positive = int(y.sum())
    want_weight = {"balanced": (len(y) - n_positive) / n_positive, 3.0: 3.0, None: 1.0}[class_weight]
    assert class_weight is None or want_weight > 1.5  # positives are rare: the weight matters
    stays = np.concatenate([np.flatnonzero(y == 1)[:4], np.flatnonzero(y == 0)[:6]])
    batch, target = TokenDataset(clf.transform_tokens(X), y).collate(stays)
    clf.module_.eval()
    with torch.no_grad():
        logits = clf.infer(batch)
        got = clf.get_loss(logits, target, X=batch).item()
    z, t = logits.double().numpy(), y[stays]
    log_p, log_q = -np.logaddexp(0, -z), -np.logaddexp(0, z)
    want = np.mean(-(want_weight * t * log_p + (1 - t) * log_q))
    assert got == pytest.approx(want, rel=1e-5)


def test_a_stay_with_100000_events(fitted_medfuse):
    n = 100_000
    events = pd.DataFrame({"stay_id": 1, "time": np.linspace(0, 48, n),
                           "feature": np.tile(["K", "Na"], n // 2), "value": np.ones(n)})
    proba = fitted_medfuse.predict_proba(events)
    assert proba.shape == (1, 2) and np.isfinite(proba).all()
    # the default tokenizer's 2-hour windows: one token per feature and window present
    windows = {(int(t // 2), f) for t, f in zip(events["time"], events["feature"])}
    assert fitted_medfuse.transform_tokens(events).lengths.tolist() == [len(windows)]


def test_tokens_only_estimator_refuses_events(u_shaped):
    events, labels = u_shaped
    X = EventSet.from_long(events)
    tokens = EventTokenizer().fit_transform(X)
    clf = MedFuseClassifier(random_state=0, **TINY).fit(tokens, labels.loc[X.stay_ids])
    with pytest.raises(TypeError, match="fitted on tokens"):
        clf.predict_proba(events)


def test_verbose_prints_the_epoch_table_and_zero_is_silent(u_shaped, capsys):
    events, labels = u_shaped
    MedFuseClassifier(random_state=0, valid_size=0.1, **{**TINY, "verbose": 1}).fit(events, labels)
    out = capsys.readouterr().out
    assert "valid_auprc" in out and "train_loss" in out
    MedFuseClassifier(random_state=0, **TINY).fit(events, labels)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("options", [
    dict(loss="focal"), dict(class_weight="balanced", loss="focal"), dict(valid_size=0),
    dict(pooling="cls", norm_first=True), dict(gate="none"),
])
def test_options_train(u_shaped, options):
    events, labels = u_shaped
    clf = MedFuseClassifier(random_state=0, **{**TINY, **options}).fit(events, labels)
    assert np.isfinite(clf.predict_proba(events)).all()
    assert len(clf.history_) == TINY["max_epochs"]


class ValidPredictions(Callback):
    """The validation probabilities after every epoch."""

    def __init__(self, dataset):
        self.dataset = dataset

    def initialize(self):
        self.proba_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.proba_.append(net.predict_proba(self.dataset)[:, 1])


def test_early_stopping_restores_the_best_epochs_weights(u_shaped):
    events, labels = u_shaped
    X = EventSet.from_long(events)
    tokens = EventTokenizer().fit_transform(X)
    y = labels.loc[X.stay_ids].to_numpy()
    train, valid = np.arange(0, 120), np.arange(120, len(X))
    valid_set = TokenDataset(tokens[valid], y[valid])
    recorder = ValidPredictions(valid_set)
    clf = MedFuseClassifier(random_state=0, **{**TINY, "max_epochs": 30, "patience": 2,
                                               "lr": 3e-3, "lr_schedule": "constant"},
                            train_split=predefined_split(valid_set),
                            callbacks=[("valid_proba", recorder)])
    clf.fit(tokens[train], y[train])
    scores = clf.history_[:, "valid_auprc"]
    best = int(np.argmax(scores))
    assert best < len(scores) - 1  # stopped after a worse epoch: restoring matters
    final = clf.predict_proba(tokens[valid])[:, 1]
    np.testing.assert_array_equal(final, recorder.proba_[best])
    assert not np.array_equal(final, recorder.proba_[-1])
    assert average_precision_score(y[valid], final) == pytest.approx(max(scores))


# -- randomness ---------------------------------------------------------------------------
def test_fit_and_predict_leave_the_global_rng_alone(u_shaped):
    events, labels = u_shaped
    torch.manual_seed(1234)
    np.random.seed(99)  # noqa: NPY002 (checking that nothing draws from it)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    clf = MedFuseClassifier(random_state=3, **{**TINY, "weight_averaging": 0.9})
    a = clf.fit(events, labels).predict_proba(events)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == numpy_state[1].tolist()  # noqa: NPY002
    b = MedFuseClassifier(random_state=3, **{**TINY, "weight_averaging": 0.9}).fit(
        events, labels).predict_proba(events)
    np.testing.assert_array_equal(a, b)


def test_without_a_random_state_the_fit_follows_torchs_seed(u_shaped):
    events, labels = u_shaped
    torch.manual_seed(5)
    a = MedFuseClassifier(**TINY).fit(events, labels).predict_proba(events)
    torch.manual_seed(5)
    b = MedFuseClassifier(**TINY).fit(events, labels).predict_proba(events)
    np.testing.assert_array_equal(a, b)


# -- skorch plumbing ----------------------------------------------------------------------
def test_iterator_arguments_reach_the_data_loaders(u_shaped):
    events, labels = u_shaped
    clf = MedFuseClassifier(random_state=0, iterator_train__num_workers=2,
                            iterator_valid__num_workers=1, iterator_valid__batch_size=7,
                            **TINY)
    with_workers = clf.fit(events, labels).predict_proba(events)
    tokens = clf.tokenizer_.transform(EventSet.from_long(events))
    dataset = TokenDataset(tokens, labels.loc[tokens.stay_ids].to_numpy())
    train_loader = clf.get_iterator(dataset, training=True)
    valid_loader = clf.get_iterator(dataset)
    assert train_loader.num_workers == 2 and valid_loader.num_workers == 1
    assert [len(b) for b in valid_loader.batch_sampler][:2] == [7, 7]
    again = MedFuseClassifier(random_state=0, iterator_train__num_workers=2,
                              iterator_valid__num_workers=1, iterator_valid__batch_size=7,
                              **TINY).fit(events, labels).predict_proba(events)
    np.testing.assert_array_equal(with_workers, again)  # workers draw reproducibly
    with pytest.raises(ValueError, match="iterator_train__shuffle"):
        MedFuseClassifier(iterator_train__shuffle=True, **TINY).fit(events, labels)


def test_weight_averaging_and_schedule_are_callbacks_not_loop_overrides():
    assert "run_single_epoch" not in vars(MedFuseClassifier)
    assert "fit_loop" not in vars(MedFuseClassifier)
    names = dict(MedFuseClassifier(weight_averaging=0.9).get_default_callbacks())
    assert isinstance(names["lr_schedule"], LRScheduler)
    assert names["lr_schedule"].policy is LambdaLR and names["lr_schedule"].step_every == "batch"
    assert "weight_averaging" in names


def test_tags_describe_what_the_estimators_accept():
    tags = MedFuseClassifier().__sklearn_tags__()
    assert tags.estimator_type == "classifier" and not tags.input_tags.two_d_array
    assert tags.input_tags.allow_nan and tags.input_tags.string and tags.input_tags.categorical
    assert not tags.classifier_tags.multi_class and tags.target_tags.required
    token_tags = EventTokenizer().__sklearn_tags__()
    assert not token_tags.input_tags.two_d_array and token_tags.transformer_tags is not None


# -- scikit-learn's API checks that apply to stays of events ------------------------------
@pytest.mark.parametrize("estimator", [MedFuseClassifier(**TINY), EventTokenizer(window=2.0)],
                         ids=["MedFuseClassifier", "EventTokenizer"])
@pytest.mark.parametrize("check", [
    estimator_checks.check_get_params_invariance, estimator_checks.check_set_params,
    estimator_checks.check_estimator_cloneable, estimator_checks.check_estimator_repr,
    estimator_checks.check_do_not_raise_errors_in_init_or_set_params,
    estimator_checks.check_valid_tag_types, estimator_checks.check_estimator_tags_renamed,
    estimator_checks.check_mixin_order,
], ids=lambda check: check.__name__)
def test_sklearn_api_check(estimator, check):
    check(type(estimator).__name__, clone(estimator))


@pytest.mark.parametrize("cls", [MedFuseClassifier, EventTokenizer])
def test_parameters_are_default_constructible(cls):
    estimator_checks.check_parameters_default_constructible(cls.__name__, cls())


def test_init_sets_only_parameters_beyond_skorchs_own():
    clf = MedFuseClassifier(d_model=8)
    own = set(vars(clf)) - set(clf.get_params(deep=False))
    assert own <= set(vars(NeuralNetBinaryClassifier(MedFuseModule)))  # what skorch sets
    assert own == {"history_", "initialized_", "virtual_params_", "_params_to_validate"}


def test_fit_on_an_event_set_returns_self_and_keeps_the_parameters(u_shaped):
    events, labels = u_shaped
    X = EventSet.from_long(events)
    clf = MedFuseClassifier(random_state=0, **TINY)
    before = joblib.hash(clf.get_params(deep=False))
    assert clf.fit(X, labels) is clf
    assert joblib.hash(clf.get_params(deep=False)) == before
    twin = clone(clf)
    assert not hasattr(twin, "module_") and twin.get_params()["d_model"] == TINY["d_model"]
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


# -- the device follows the machine ---------------------------------------------------------
def test_device_auto_resolves_to_cuda_when_torch_sees_one_else_the_cpu(monkeypatch):
    from medfuse_sk.models import resolve_device

    assert MedFuseClassifier().device == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    # a device given is kept, spelled as torch spells it
    assert resolve_device("cpu") == "cpu" and resolve_device("cuda:1") == "cuda:1"
    assert resolve_device(torch.device("cuda", 0)) == "cuda:0"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU machine's answer")
def test_the_fitted_model_says_which_device_it_used(u_shaped, fitted_medfuse):
    events, labels = u_shaped
    assert fitted_medfuse.device == "auto" and fitted_medfuse.device_ == "cpu"
    assert clone(fitted_medfuse).get_params()["device"] == "auto"  # the parameter stays "auto"
    explicit = MedFuseClassifier(device="cpu", random_state=0, **TINY).fit(events, labels)
    assert explicit.device == "cpu" and explicit.device_ == "cpu"
    np.testing.assert_array_equal(explicit.predict_proba(events),
                                  fitted_medfuse.predict_proba(events))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_fit_trains_on_the_resolved_device(u_shaped, monkeypatch):
    """With torch claiming a GPU, "auto" sends the network to CUDA (which this CPU-only torch
    then refuses): the resolved device, not the word "auto", reaches skorch and torch."""
    events, labels = u_shaped
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    clf = MedFuseClassifier(random_state=0, **TINY)
    with pytest.raises((AssertionError, RuntimeError), match="CUDA"):
        clf.fit(events, labels)
    assert clf.device == "auto" and clf.device_ == "cuda"


# -- the epoch table --------------------------------------------------------------------------
def test_the_epoch_table_has_colour_codes_only_on_a_terminal(u_shaped, capsys, monkeypatch):
    import sys

    events, labels = u_shaped
    monkeypatch.delenv("NO_COLOR", raising=False)
    MedFuseClassifier(random_state=0, **{**TINY, "verbose": 1}).fit(events, labels)
    out = capsys.readouterr().out
    assert "train_loss" in out and "\x1b[" not in out  # captured: not a terminal
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    MedFuseClassifier(random_state=0, **{**TINY, "verbose": 1}).fit(events, labels)
    assert "\x1b[" in capsys.readouterr().out  # skorch's colours where a person reads them
    monkeypatch.setenv("NO_COLOR", "1")
    MedFuseClassifier(random_state=0, **{**TINY, "verbose": 1}).fit(events, labels)
    assert "\x1b[" not in capsys.readouterr().out
