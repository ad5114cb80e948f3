"""Data-parallel training: 2 real CPU processes (torchrun, gloo) against a single-process fit."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.datasets import load_sample
from medfuse_sk.distributed import DistributedMedFuseClassifier, shard_batches
from medfuse_sk.io import load_model

# dropout off: dropout masks are drawn per process, everything else follows the single fit.
# 149 stays, 20 % validation -> 119 training stays = 7 batches of 16 and one of 7, shared 4 + 3
# (unequal shares: the loss weighting matters).
PARAMS = dict(d_model=16, n_heads=2, max_epochs=3, batch_size=16, dropout=0.0, token_dropout=0.0,
              valid_size=0.2, patience=None, random_state=0, verbose=1,
              tokenizer=EventTokenizer(window=4.0, max_tokens=60))
N_STAYS = 149
#: float summation order differs (two shares vs one batch): measured max |Δp| 6e-8. Without the
#: gradient averaging it is 1.4e-3; weighting the shares' losses by their stay counts instead of
#: their total sample_weight gives 6.6e-5 (2.7e-5 without weights and no weighting at all).
TOLERANCE = 1e-6

WORKER = """
import os, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
sys.path.insert(0, {tests!r})
from test_distributed import PARAMS, sample_data, weights
from medfuse_sk.distributed import DistributedMedFuseClassifier
from medfuse_sk.io import save_model

X, y, X_test = sample_data()
clf = DistributedMedFuseClassifier(**PARAMS).fit(X, y, sample_weight=weights(y))
rank = int(os.environ["RANK"])
out = {out!r}
save_model(clf, os.path.join(out, f"model_rank{{rank}}"))   # only rank 0 may write
np.save(os.path.join(out, f"proba_rank{{rank}}.npy"), clf.predict_proba(X_test)[:, 1])
np.save(os.path.join(out, f"auprc_rank{{rank}}.npy"), np.array(clf.history_[:, "valid_auprc"]))
"""


def weights(y):
    """Per-stay weights 1, 2, 3, 1, ...: the shares' losses must be weighted by their weight."""
    return 1.0 + np.arange(len(y)) % 3


def sample_data():
    sample = load_sample("train")
    ids = sample.stay_ids[:N_STAYS]
    test_ids = sample.stay_ids[N_STAYS:N_STAYS + 60]
    events = sample.events

    def event_set(stays):
        return EventSet.from_long(events[events["stay_id"].isin(stays)],
                                  categorical=sample.categorical, stays=stays)

    X = event_set(ids)
    return X, sample.labels.loc[X.stay_ids], event_set(test_ids)


def test_two_processes_match_a_single_process_fit_and_only_rank_0_writes(tmp_path):
    X, y, X_test = sample_data()
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(tests=os.path.dirname(__file__), out=str(tmp_path)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = MedFuseClassifier(**{**PARAMS, "verbose": 0}).fit(X, y, sample_weight=weights(y))
    expected = single.predict_proba(X_test)[:, 1]
    for rank in (0, 1):
        proba = np.load(tmp_path / f"proba_rank{rank}.npy")
        assert np.abs(proba - expected).max() <= TOLERANCE, (rank, np.abs(proba - expected).max())
        np.testing.assert_allclose(np.load(tmp_path / f"auprc_rank{rank}.npy"),
                                   single.history_[:, "valid_auprc"], atol=1e-6)
    # the trained weights differ from the initial ones: training happened in both fits
    assert np.abs(expected - 0.5).max() > 0.01
    # one writer: rank 0's model folder, and one epoch table
    assert (tmp_path / "model_rank0").is_dir() and not (tmp_path / "model_rank1").exists()
    np.testing.assert_allclose(load_model(tmp_path / "model_rank0").predict_proba(X_test)[:, 1],
                               expected, atol=TOLERANCE)
    assert run.stdout.count("train_loss") == 1, run.stdout


def test_a_single_process_is_an_ordinary_fit():
    X, y, X_test = sample_data()
    params = {**PARAMS, "max_epochs": 1, "verbose": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = DistributedMedFuseClassifier(**params).fit(X, y)
        b = MedFuseClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_data_parallel_training_is_a_mixin_and_the_model_is_registered():
    from medfuse_sk.distributed import DataParallelMixin
    from medfuse_sk.models import BinaryLoss, MedFuseModule, create_model, get_model

    assert DistributedMedFuseClassifier.__mro__[1:3] == (DataParallelMixin, MedFuseClassifier)
    assert not issubclass(DataParallelMixin, MedFuseClassifier)  # any network model may take it
    spec = get_model("medfuse_distributed")
    assert spec.classes == (DistributedMedFuseClassifier,)
    assert {MedFuseModule, BinaryLoss} <= set(spec.parameter_classes)
    model = create_model("medfuse_distributed", random_state=0)
    assert type(model) is DistributedMedFuseClassifier and model.random_state == 0


def test_shards_cover_every_stay_once_and_small_batches_are_merged():
    batches = [[0, 1, 2, 3, 4], [5], [6, 7, 8], [9, 10]]
    shards = [shard_batches(batches, r, 3) for r in range(3)]
    assert shards[0] == [[0, 3], [6, 9]] and shards[1] == [[1, 4], [7, 10]]
    assert shards[2] == [[2, 5], [8]]
    flat = sorted(i for shard in shards for batch in shard for i in batch)
    assert flat == list(range(11))
    assert shard_batches([[1], [2, 3, 4]], 0, 2) == [[1, 3]]  # a first small batch joins the next
    with pytest.raises(ValueError, match="cannot be shared by 4 processes"):
        shard_batches([[1, 2]], 0, 4)
