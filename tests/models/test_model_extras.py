"""The series-summary branch and heterogeneous ensembles, against independent computations."""

import numpy as np
import pytest
import torch
from synthetic import u_shaped_task

from medfuse_sk import EventSet, EventTokenizer
from medfuse_sk.models import TokenDataset
from medfuse_sk.models.medfuse._network import (
    MedFuseEnsemble,
    MedFuseModule,
    latest_of_feature,
    series_summary,
)


def _batch(n_stays=12, seed=0):
    events, _ = u_shaped_task(n_stays=n_stays, seed=seed)
    tokens = EventTokenizer().fit_transform(EventSet.from_long(events))
    batch, _ = TokenDataset(tokens).collate(list(range(n_stays)))
    return tokens, batch


def test_series_summary_matches_a_loop_over_stays():
    tokens, batch = _batch()
    got = series_summary(batch["feature"], batch["value"], batch["category"], batch["time"],
                         batch["mask"], batch["latest"], tokens.n_features).numpy()
    n_f = tokens.n_features
    c = tokens.columns
    for i in range(len(tokens)):
        rows = slice(tokens.offsets[i], tokens.offsets[i + 1])
        feature, value, time = c["feature"][rows], c["value"][rows], c["time"][rows]
        t_end = time.max()
        for f in range(n_f):
            mine = np.flatnonzero(feature == f)
            assert got[i, f] == pytest.approx(np.log1p(len(mine)))
            assert got[i, 3 * n_f + f] == (len(mine) > 0)
            if len(mine):
                last = mine[np.argmax(time[mine])]
                assert got[i, n_f + f] == pytest.approx(value[last], abs=1e-6)
                assert got[i, 2 * n_f + f] == pytest.approx(np.log1p(t_end - time[last]), abs=1e-5)
            else:
                assert got[i, n_f + f] == 0 and got[i, 2 * n_f + f] == 0


def test_latest_mask_computed_in_the_module_matches_the_batches():
    """Without a ``latest`` mask the module computes the one the collate function makes."""
    tokens, batch = _batch(n_stays=20, seed=3)
    want = batch["latest"] & batch["mask"]
    assert torch.equal(latest_of_feature(batch["feature"], batch["mask"]), want)
    assert want.sum() > len(tokens)  # several features per stay
    model = MedFuseModule(tokens.n_features, 1, d_model=16, n_heads=2).eval()
    assert model.series_summary is not None and model.pooling == "mean+latest"  # defaults
    without = {k: v for k, v in batch.items() if k != "latest"}
    torch.testing.assert_close(model(**without), model(**batch))


def test_series_summary_ignores_padding():
    tokens, batch = _batch()
    padded = {k: torch.cat([v, v[:, -1:].clone()], dim=1) for k, v in batch.items()}
    padded["mask"][:, -1] = False
    padded["latest"][:, -1] = False
    padded["value"][:, -1] = 99.0
    args = ("feature", "value", "category", "time", "mask", "latest")
    torch.testing.assert_close(series_summary(*(padded[k] for k in args), tokens.n_features),
                               series_summary(*(batch[k] for k in args), tokens.n_features))


def test_summary_branch_reads_the_counts():
    """Two stays equal but for one extra token: only the branch can tell them apart by count."""
    tokens, batch = _batch(n_stays=2)
    torch.manual_seed(0)
    net = MedFuseModule(tokens.n_features, tokens.n_categories, d_model=16, n_heads=2,
                        series_summary=True, pooling="mean", dropout=0.0).eval()
    out = net(**batch)
    assert out.shape == (2,)
    with torch.no_grad():
        net.series_summary[0].weight.zero_()
        net.series_summary[0].bias.zero_()
    assert not torch.allclose(net(**batch), out)  # the branch contributed


def test_heterogeneous_ensemble_members_and_errors():
    tokens, batch = _batch(n_stays=4)
    ens = MedFuseEnsemble(n_models=4, fusion=("mufuse", "scane"), n_features=tokens.n_features,
                          n_categories=tokens.n_categories, d_model=16, n_heads=2)
    assert ens.fusions == ("mufuse", "scane", "mufuse", "scane")
    assert [m.embedding.fusion for m in ens.members] == list(ens.fusions)
    assert ens(**batch).shape == (4, 4)
    with pytest.raises(ValueError, match="multiple"):
        MedFuseEnsemble(n_models=3, fusion=("mufuse", "scane"), n_features=tokens.n_features)
