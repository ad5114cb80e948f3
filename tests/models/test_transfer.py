"""Transfer of feature embeddings by name: exact copies, frozen warm-up, the P12/P19 name map."""

import warnings

import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback
from synthetic import u_shaped_task  # noqa: E402

from medfuse_sk import MedFuseClassifier
from medfuse_sk.datasets import physionet2012, physionet2019
from medfuse_sk.models import P12_FROM_P19, P19_FROM_P12, TransferEmbeddings, transfer_weights

SMALL = dict(d_model=16, n_heads=2, batch_size=32, verbose=0, random_state=0)


@pytest.fixture(scope="module")
def source():
    events, labels = u_shaped_task(200, seed=0)
    return MedFuseClassifier(max_epochs=2, valid_size=0, **SMALL).fit(events, labels)


def _target_task():
    events, labels = u_shaped_task(200, seed=1)
    events["feature"] = events["feature"].replace({"K": "Potassium", "HR": "Lactate"})
    return events, labels


class _Rows(Callback):
    """Snapshots of the feature-indexed weights: after the transfer and after every epoch."""

    def initialize(self):
        self.snapshots = []
        return self

    def _take(self, net):
        emb = net.module_.embedding
        self.snapshots.append({name: getattr(emb, name).detach().clone()
                               for name in ("alpha", "beta")}
                              | {"E": emb.feature_table.weight.detach().clone()})

    def on_train_begin(self, net, **kwargs):
        self._take(net)

    def on_epoch_end(self, net, **kwargs):
        self._take(net)


def _rows(names, wanted):
    return [list(names).index(w) for w in wanted]


def test_copied_rows_are_the_sources_and_stay_frozen_then_move(source):
    events, labels = _target_task()
    transfer = TransferEmbeddings(source, name_map={"Potassium": "K"}, freeze_epochs=2)
    rows = _Rows()
    clf = MedFuseClassifier(max_epochs=4, valid_size=0, lr=1e-2, lr_schedule="constant",
                            warmup_epochs=0, callbacks=[("transfer", transfer), ("rows", rows)],
                            **SMALL)
    with pytest.warns(UserWarning, match=r"1 of 4 features have no match.*: Lactate"):
        clf.fit(events, labels)
    assert transfer.result_.matched == {"<empty>": "<empty>", "Potassium": "K", "Na": "Na"}
    target = _rows(clf.feature_names_, ["Potassium", "Na"])
    fresh = _rows(clf.feature_names_, ["Lactate"])
    src = _rows(source.feature_names_, ["K", "Na"])
    s_emb = source.module_.embedding
    want = {"E": s_emb.feature_table.weight, "alpha": s_emb.alpha, "beta": s_emb.beta}
    assert len(rows.snapshots) == 5 and transfer.history_ == [True, True, False, False]
    for name, source_weight in want.items():
        copied = source_weight.detach()[src]
        for k in (0, 1, 2):  # after the transfer, after frozen epochs 1 and 2: exactly the source's
            assert torch.equal(rows.snapshots[k][name][target], copied), (name, k)
        for k in (3, 4):  # after the warm-up they train
            assert not torch.allclose(rows.snapshots[k][name][target], copied), (name, k)
    # the fresh feature trained all along, and did not start as any source row
    assert not torch.equal(rows.snapshots[1]["E"][fresh], rows.snapshots[0]["E"][fresh])
    assert not any(torch.equal(rows.snapshots[0]["E"][fresh][0], r)
                   for r in s_emb.feature_table.weight.detach())


def test_warm_start_continues_without_copying_again(source):
    events, labels = _target_task()
    rows = _Rows()
    clf = MedFuseClassifier(max_epochs=1, valid_size=0, lr=1e-2, weight_averaging=None, callbacks=[
        ("transfer", TransferEmbeddings(source, name_map={"Potassium": "K"}, warn_unmatched=False)),
        ("rows", rows)], **SMALL)
    clf.fit(events, labels)
    clf.set_params(warm_start=True).fit(events, labels)  # continues the same network
    first_end, second_begin = rows.snapshots[1]["E"], rows.snapshots[2]["E"]
    assert torch.equal(first_end, second_begin)
    assert not torch.equal(rows.snapshots[0]["E"], second_begin)


def test_every_member_of_an_ensemble_is_initialised(source):
    events, labels = _target_task()
    clf = MedFuseClassifier(max_epochs=1, valid_size=0, n_models=2, **SMALL)
    clf.fit(events, labels)  # builds the module and the vocabulary
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = transfer_weights(source, clf.module_, clf.feature_names_,
                                  name_map={"Potassium": "K"}, parts=("features", "value"))
    src = _rows(source.feature_names_, [result.matched[clf.feature_names_[r]] for r in result.rows])
    assert sorted(result.matched.values()) == ["<empty>", "K", "Na"]
    for member in clf.module_.members:
        assert torch.equal(member.embedding.feature_table.weight[result.rows],
                           source.module_.embedding.feature_table.weight[src])
        assert torch.equal(member.embedding.projector[2].weight,
                           source.module_.embedding.projector[2].weight)
    assert "embedding.projector.2.weight" in result.copied


def test_clone_keeps_the_fitted_source_and_bad_sources_are_named(source):
    events, labels = _target_task()
    clf = MedFuseClassifier(max_epochs=1, valid_size=0,
                            callbacks=[("transfer", TransferEmbeddings(source, freeze_epochs=1))],
                            **SMALL)
    twin = clone(clf)
    assert twin.callbacks[0][1].source is source
    with pytest.warns(UserWarning, match="no match"):
        twin.fit(events, labels)
    unfitted = clone(source)
    with pytest.raises(ValueError, match="not fitted.*clone"):
        clone(clf).set_params(callbacks=[("t", TransferEmbeddings(unfitted))]).fit(events, labels)
    wide = MedFuseClassifier(max_epochs=1, valid_size=0, **{**SMALL, "d_model": 32})
    with pytest.raises(ValueError, match="d_model differs"):
        wide.set_params(callbacks=[("t", TransferEmbeddings(source))]).fit(events, labels)
    with pytest.raises(ValueError, match="parts must be"):
        transfer_weights(source, source.module_, source.feature_names_, parts=("head",))


def test_p12_p19_name_map():
    p12 = set(physionet2012.TIME_SERIES) | set(physionet2012.DESCRIPTORS)
    p19 = set(physionet2019.TIME_SERIES) | set(physionet2019.STATIC)
    assert set(P12_FROM_P19) <= p12 and set(P12_FROM_P19.values()) <= p19
    assert set(P19_FROM_P12) <= p19 and set(P19_FROM_P12.values()) <= p12
    # the paper's 25 shared ICU features (Appendix C), in P12's names; P19 lacks six of them
    paper = {"Age", "Height", "Weight", "HR", "Temp", "RespRate", "SaO2", "SysABP", "DiasABP",
             "MAP", "ALT", "AST", "ALP", "Albumin", "Bilirubin", "Creatinine", "BUN", "Na",
             "WBC", "Platelets", "Glucose", "Lactate", "pH", "FiO2", "Urine"}
    assert len(paper) == 25
    assert paper - set(P12_FROM_P19) == {"Height", "Weight", "ALT", "Albumin", "Na", "Urine"}
    assert P12_FROM_P19["NISysABP"] == P12_FROM_P19["SysABP"] == "SBP"
    assert P19_FROM_P12["SBP"] == "SysABP" and P19_FROM_P12["Potassium"] == "K"
