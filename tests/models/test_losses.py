"""The losses against formulas written out element by element (float64)."""

import math

import numpy as np
import pytest
import torch
from synthetic import u_shaped_task

from medfuse_sk import MedFuseClassifier
from medfuse_sk.models import BinaryLoss

LOGITS = [-3.0, -0.7, 0.0, 0.4, 2.5, -1.2, 5.0, -6.0]
TARGET = [0, 1, 1, 0, 1, 0, 0, 1]


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def bce_by_hand(logits, target, pos_weight=1.0):
    terms = [-(pos_weight * y * math.log(_sigmoid(z)) + (1 - y) * math.log(1 - _sigmoid(z)))
             for z, y in zip(logits, target)]
    return sum(terms) / len(terms)


def focal_by_hand(logits, target, gamma, alpha, pos_weight=1.0):
    """Lin et al.'s −α_t (1 − p_t)^γ log p_t, times 2 so that α = 0.5 weighs both classes 1
    (the authors' setting), positives further times ``pos_weight``."""
    terms = []
    for z, y in zip(logits, target):
        p_t = _sigmoid(z) if y == 1 else 1 - _sigmoid(z)
        alpha_t = alpha * pos_weight if y == 1 else 1 - alpha
        terms.append(-2 * alpha_t * (1 - p_t) ** gamma * math.log(p_t))
    return sum(terms) / len(terms)


def _loss(**kwargs):
    z = torch.tensor(LOGITS, dtype=torch.float64)
    return BinaryLoss(**kwargs)(z, torch.tensor(TARGET, dtype=torch.float64)).item()


@pytest.mark.parametrize("pos_weight", [None, 1.0, 3.0, 0.25])
def test_bce_with_pos_weight(pos_weight):
    want = bce_by_hand(LOGITS, TARGET, 1.0 if pos_weight is None else pos_weight)
    assert _loss(loss="bce", pos_weight=pos_weight) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("gamma, alpha, pos_weight", [
    (2.0, 0.5, None), (2.0, 0.25, None), (0.5, 0.8, None), (2.0, 0.5, 4.0), (1.0, 0.3, 2.0)])
def test_focal_loss(gamma, alpha, pos_weight):
    want = focal_by_hand(LOGITS, TARGET, gamma, alpha, 1.0 if pos_weight is None else pos_weight)
    got = _loss(loss="focal", focal_gamma=gamma, focal_alpha=alpha, pos_weight=pos_weight)
    assert got == pytest.approx(want, rel=1e-12)


def test_focal_without_focusing_is_the_cross_entropy():
    assert _loss(loss="focal", focal_gamma=0.0, focal_alpha=0.5) == pytest.approx(
        bce_by_hand(LOGITS, TARGET), rel=1e-12)


@pytest.mark.parametrize("class_weight", ["balanced", 2.5])
def test_class_weight_reaches_the_loss_as_pos_weight(class_weight):
    events, labels = u_shaped_task(n_stays=60, seed=1)
    clf = MedFuseClassifier(d_model=16, n_heads=2, max_epochs=1, verbose=0, random_state=0,
                            class_weight=class_weight).fit(events, labels)
    counts = np.bincount(labels.to_numpy())
    want = counts[0] / counts[1] if class_weight == "balanced" else class_weight
    assert clf.criterion_.pos_weight == pytest.approx(want)
    z = torch.tensor(LOGITS, dtype=torch.float64)
    got = clf.criterion_(z, torch.tensor(TARGET, dtype=torch.float64)).item()
    assert got == pytest.approx(bce_by_hand(LOGITS, TARGET, want), rel=1e-12)
