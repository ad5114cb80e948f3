"""Self-supervised pre-training: it lowers its own loss, fits in a Pipeline, survives clone and
pickle, and hands its weights to a classifier."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from synthetic import u_shaped_task  # noqa: E402

from medfuse_sk import EventSet, EventTokenizer
from medfuse_sk.data import make_window_task
from medfuse_sk.datasets import load_physionet2019_sample
from medfuse_sk.models import MedFusePretrainer

SMALL = dict(d_model=16, n_heads=2, batch_size=16, lr=3e-3, random_state=0, verbose=0)


@pytest.fixture(scope="module")
def synthetic_tokens():
    events, _ = u_shaped_task(300, seed=0)
    X = EventSet.from_long(events)
    return EventTokenizer().fit(X).transform(X)


@pytest.fixture(scope="module")
def p19_first_day():
    data = load_physionet2019_sample()
    no_onset = pd.Series(np.nan, index=data.onset.index)
    task = make_window_task(data.events, no_onset, window=24, warn=False)
    return task.to_event_set(categorical=list(data.categorical))


def test_masked_reconstruction_lowers_its_loss_below_the_trivial_guess(synthetic_tokens):
    # within a stay the K values share one level, so a hidden K value can be read off the
    # others; guessing 0 (every feature's median after scaling) costs the mean squared value
    pre = MedFusePretrainer("masked", mask_rate=0.3, max_epochs=8, **SMALL).fit(synthetic_tokens)
    losses = [h["valid_loss"] for h in pre.history_]
    trivial = float(np.mean(synthetic_tokens.columns["value"] ** 2))
    assert min(losses) < 0.85 * losses[0]
    assert -pre.score(synthetic_tokens) < 0.8 * trivial
    assert pre.best_epoch_ == int(np.argmin(losses)) + 1


def test_forecasting_lowers_its_loss_on_real_stays(p19_first_day):
    pre = MedFusePretrainer("forecast", max_epochs=6, **SMALL).fit(p19_first_day)
    losses = [h["valid_loss"] for h in pre.history_]
    assert min(losses) < 0.95 * losses[0]
    both = MedFusePretrainer("both", max_epochs=1, **SMALL).fit(p19_first_day)
    assert np.isfinite(both.history_[0]["train_loss"])


def test_pipeline_clone_pickle_and_same_seed_same_fit(p19_first_day):
    # bit for bit on one thread: with several, some CPU kernels of the pre-training losses
    # sum in an order that varies (seen here with 2 threads: 1e-7 after a few steps, growing)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pipe = make_pipeline(EventTokenizer(max_tokens=200),
                             MedFusePretrainer(max_epochs=1, **SMALL))
        pipe.fit(p19_first_day)
        pre = pipe[-1]
        assert np.isfinite(pipe.score(p19_first_day))
        twin = clone(pre)
        assert not hasattr(twin, "module_") and twin.get_params() == pre.get_params()
        again = make_pipeline(EventTokenizer(max_tokens=200), twin).fit(p19_first_day)[-1]
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(pre.module_.parameters(), again.module_.parameters()):
        assert torch.equal(a, b)
    loaded = pickle.loads(pickle.dumps(pipe))
    assert loaded.score(p19_first_day) == pipe.score(p19_first_day)
    with pytest.raises(ValueError, match="objective must be one of"):
        MedFusePretrainer("jigsaw").fit(p19_first_day)


def test_make_classifier_starts_from_the_pretrained_network(synthetic_tokens):
    pre = MedFusePretrainer(max_epochs=1, **SMALL).fit(synthetic_tokens)
    events, labels = u_shaped_task(300, seed=0)
    X = EventSet.from_long(events)
    tokens = EventTokenizer().fit(X).transform(X)
    # a learning rate so small that one epoch cannot move the weights measurably
    clf = pre.make_classifier(max_epochs=1, lr=1e-12, valid_size=0, verbose=0)
    assert clf.d_model == 16 and clf.n_heads == 2
    # both follow the machine: "auto" stays the parameter, the fitted device_ says where
    assert pre.device == clf.device == "auto"
    assert pre.device_ == ("cuda" if torch.cuda.is_available() else "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same vocabulary: no unmatched-feature warning
        clf.fit(tokens, labels)
    state = dict(clf.module_.named_parameters())
    for name, param in pre.module_.named_parameters():
        if name.startswith(("embedding", "layers")):
            torch.testing.assert_close(state[name], param, atol=1e-8, rtol=0)
    transfer = dict(clf.callbacks_)["pretrained"]
    assert "layers.0.qkv.weight" in transfer.result_.copied
    # a fresh classifier of the same shape does not start there
    fresh = clone(clf).set_params(callbacks=[]).fit(tokens, labels)
    assert not torch.allclose(fresh.module_.layers[0].qkv.weight, pre.module_.layers[0].qkv.weight)


def test_a_hidden_value_does_not_reach_the_encoder(synthetic_tokens):
    from medfuse_sk.models import TokenDataset
    from medfuse_sk.models.medfuse._pretrain import _encode

    pre = MedFusePretrainer(max_epochs=1, **SMALL).fit(synthetic_tokens)
    batch, _ = TokenDataset(synthetic_tokens).collate(np.arange(8))
    hidden = batch["mask"].clone()
    hidden[:, 0] = False  # the first token of every stay keeps its value
    changed = dict(batch, value=torch.where(hidden, batch["value"] + 3.0, batch["value"]))
    with torch.no_grad():
        a = _encode(pre.module_, batch, batch["mask"], hidden, pre.heads_.mask_token)
        b = _encode(pre.module_, changed, batch["mask"], hidden, pre.heads_.mask_token)
        c = _encode(pre.module_, changed, batch["mask"])
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
