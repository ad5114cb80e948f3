"""Training machinery: LR schedule, weight averaging, token dropout, byte-mask dropout, pooling."""

import math

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, LRScheduler
from synthetic import TINY, u_shaped_task

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.models import ByteDropout, MedFuseModule, TokenDataset

SEEDED = {**TINY, "random_state": 0}


class Recorder(Callback):
    """Learning rate and a copy of the weights after every training batch."""

    def initialize(self):
        self.lrs, self.weights, self.at_epoch_begin = [], [], []
        return self

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self.at_epoch_begin.append([p.detach().clone() for p in net.module_.parameters()])

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.lrs.append(net.optimizer_.param_groups[0]["lr"])
            self.weights.append([p.detach().clone() for p in net.module_.parameters()])


@pytest.fixture(scope="module")
def task():
    return u_shaped_task(n_stays=96, seed=0)


def _batch_lrs(clf):
    """The learning rate of every training batch, as skorch's LRScheduler recorded it."""
    return [lr for epoch in clf.history[:, "batches"] for batch in epoch
            for lr in [batch.get("event_lr")] if lr is not None]


def test_warmup_cosine_schedule_follows_its_formula(task):
    events, labels = task
    recorder = Recorder()
    clf = MedFuseClassifier(lr=0.01, lr_schedule="cosine", warmup_epochs=1, batch_size=32,
                            valid_size=0, callbacks=[("rec", recorder)],
                            **{**SEEDED, "max_epochs": 3})
    clf.fit(events, labels)
    per_epoch, total = 3, 9
    want = [0.01 * min(1, (s + 1) / per_epoch) * 0.5 * (1 + math.cos(math.pi * s / total))
            for s in range(total)]
    np.testing.assert_allclose(_batch_lrs(clf), want, rtol=1e-12)
    # the optimizer really ran at those rates (recorded after each step: the next batch's)
    np.testing.assert_allclose(recorder.lrs[:-1], want[1:], rtol=1e-12)
    assert want[2] > want[-1] > 0
    assert isinstance(clf.callbacks_[2][1], LRScheduler)


def test_constant_schedule_keeps_the_learning_rate(task):
    events, labels = task
    clf = MedFuseClassifier(lr=0.003, lr_schedule="constant", warmup_epochs=0.0, batch_size=32,
                            valid_size=0, **SEEDED).fit(events, labels)
    assert _batch_lrs(clf) == [0.003] * 6


def test_weight_averaging_is_an_exponential_moving_average(task):
    events, labels = task
    recorder = Recorder()
    clf = MedFuseClassifier(weight_averaging=0.8, batch_size=32, valid_size=0,
                            callbacks=[("rec", recorder)], **SEEDED)
    clf.fit(events, labels)
    # by hand: after batch n the average moves a share max(1 - 0.8, 1 / n) towards the
    # weights: the running mean for the first 5 batches (the initial weights never count),
    # the EMA after
    average = None
    for n, weights in enumerate(recorder.weights, start=1):
        share = max(0.2, 1.0 / n)
        average = [w.clone() for w in weights] if average is None else [
            (1 - share) * a + share * w for a, w in zip(average, weights, strict=True)]
        if n == 3:
            torch.testing.assert_close(average[0], sum(w[0] for w in recorder.weights[:3]) / 3)
    assert len(recorder.weights) > 5  # both phases ran
    final = [p.detach() for p in clf.module_.parameters()]
    for a, f in zip(average, final, strict=True):
        torch.testing.assert_close(f, a, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(final[0], recorder.weights[-1][0])  # not the raw weights


def test_weight_averaging_with_early_stopping_trains_on_raw_weights(task):
    events, labels = task
    recorder = Recorder()
    clf = MedFuseClassifier(weight_averaging=0.5, batch_size=32, valid_size=0.1,
                            callbacks=[("rec", recorder)], **{**SEEDED, "max_epochs": 3})
    clf.fit(events, labels)
    assert np.isfinite(clf.predict_proba(events)).all()
    # validation ran on the average, yet each epoch resumes from the last raw weights
    per_epoch = len(recorder.weights) // 3
    for epoch in (1, 2):
        raw_end = recorder.weights[epoch * per_epoch - 1]
        for a, b in zip(recorder.at_epoch_begin[epoch], raw_end, strict=True):
            assert torch.equal(a, b)


def test_token_dropout_leaves_out_tokens_only_in_training(task):
    events, labels = task
    tokens = EventTokenizer().fit_transform(EventSet.from_long(events))
    dataset = TokenDataset(tokens, labels.loc[tokens.stay_ids].to_numpy())
    stays = list(range(len(tokens)))
    full, _ = dataset.collate(stays)
    dropped, _ = dataset.collate(stays, token_dropout=0.5, seed=1)
    again, _ = dataset.collate(stays, token_dropout=0.5, seed=1)
    kept = dropped["mask"].sum(1)
    share = 1 - kept.sum().item() / full["mask"].sum().item()
    assert 0.4 < share < 0.5  # 0.5 of the tokens, but every stay keeps its last token
    assert (kept >= 1).all()
    torch.testing.assert_close(dropped["feature"], again["feature"])
    # the last token of every stay is kept, and kept tokens keep their order and values
    last = full["mask"].sum(1) - 1
    rows = torch.arange(len(stays))
    assert torch.equal(dropped["time"][rows, kept - 1], full["time"][rows, last])


def test_byte_dropout_drops_the_rounded_share_and_keeps_the_expectation():
    drop = ByteDropout(0.1)
    assert drop.threshold == 26 and drop.p == pytest.approx(26 / 256)
    x = torch.ones(1_000_000)
    torch.manual_seed(0)
    y = drop.train()(x)
    assert (y == 0).float().mean().item() == pytest.approx(26 / 256, abs=2e-3)
    assert y.mean().item() == pytest.approx(1.0, abs=5e-3)
    values = torch.unique(y)
    assert len(values) == 2 and values[0] == 0
    assert values[1].item() == pytest.approx(1 / (1 - 26 / 256))
    torch.manual_seed(0)
    assert torch.equal(drop(x), y)
    assert torch.equal(drop.eval()(x), x)
    with pytest.raises(ValueError, match="dropout"):
        ByteDropout(1.0)


@pytest.mark.parametrize("pooling", ["mean", "cls", "attention", "mean+attention"])
def test_pooling_ignores_padding(pooling):
    torch.manual_seed(0)
    model = MedFuseModule(10, 3, d_model=16, n_heads=2, pooling=pooling).eval()
    feature = torch.randint(1, 10, (2, 5))
    value, time = torch.randn(2, 5), torch.rand(2, 5)
    category = torch.full((2, 5), -1)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()
    out = model(feature, value, category, time, mask)
    feature[0, 3:], value[0, 3:] = 7, 9.0  # change what sits under the padding
    torch.testing.assert_close(model(feature, value, category, time, mask), out)
    alone = model(feature[:1, :3], value[:1, :3], category[:1, :3], time[:1, :3], mask[:1, :3])
    torch.testing.assert_close(alone, out[:1], rtol=1e-5, atol=1e-6)


def test_byte_dropout_gradient_uses_the_same_mask():
    drop = ByteDropout(0.25).train()
    x = torch.randn(500, 8, dtype=torch.float64, requires_grad=True)
    y = drop(x)
    grad = torch.randn_like(y)
    y.backward(grad)
    kept = y != 0
    assert 0.2 < 1 - kept.double().mean().item() < 0.3
    torch.testing.assert_close(x.grad, grad * kept / (1 - drop.p))


def test_latest_mask_marks_each_features_most_recent_token(task):
    events, labels = task
    tokens = EventTokenizer().fit_transform(EventSet.from_long(events))
    dataset = TokenDataset(tokens)
    batch, _ = dataset.collate(list(range(len(tokens))))
    for i in range(len(tokens)):
        n = int(batch["mask"][i].sum())
        feature = batch["feature"][i, :n].tolist()
        want = [j for j in range(n) if feature[j] not in feature[j + 1:]]
        assert torch.nonzero(batch["latest"][i]).squeeze(1).tolist() == want


@pytest.mark.parametrize("pooling", ["latest", "mean+latest"])
def test_latest_pooling_through_the_estimator(task, pooling):
    events, labels = task
    clf = MedFuseClassifier(pooling=pooling, **SEEDED).fit(events, labels)
    proba = clf.predict_proba(events)
    assert np.isfinite(proba).all() and proba[:, 1].std() > 0
    # called without the collate function's `latest` mask, the module computes the same one
    batch, _ = TokenDataset(clf.tokenizer_.transform(EventSet.from_long(events))).collate(
        list(range(8)))
    module = clf.module_.eval()
    torch.testing.assert_close(module(**{k: v for k, v in batch.items() if k != "latest"}),
                               module(**batch))


def test_ensemble_averages_its_members(task):
    events, labels = task
    clf = MedFuseClassifier(n_models=3, **SEEDED).fit(events, labels)
    proba = clf.predict_proba(events)[:, 1]
    tokens = clf.tokenizer_.transform(EventSet.from_long(events))
    batch, _ = TokenDataset(tokens).collate(list(range(len(tokens))))
    clf.module_.eval()
    with torch.no_grad():
        members = torch.stack([torch.sigmoid(m(**batch)) for m in clf.module_.members], dim=1)
    np.testing.assert_allclose(members.mean(1).numpy(), proba, rtol=1e-5, atol=1e-6)
    assert members.std(1).mean() > 1e-4  # the members differ
    # the loss is the mean of the members' losses
    from medfuse_sk.models import BinaryLoss
    logits = torch.randn(5, 3)
    target = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0])
    want = np.mean([BinaryLoss()(logits[:, m], target).item() for m in range(3)])
    assert BinaryLoss()(logits, target).item() == pytest.approx(want)
