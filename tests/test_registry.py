"""A new model and a new cohort are one registration each: the worked examples of
docs/contributing.md, run as they stand, then saved, loaded, voted with, run from the command
line and explained (or refused) without a line of the library edited."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from medfuse_sk.cli import main
from medfuse_sk.datasets import available_cohorts, load_cohort, unregister_cohort
from medfuse_sk.ensemble import make_voting
from medfuse_sk.inspection import explain
from medfuse_sk.io import ModelFileError, load_model, save_model
from medfuse_sk.models import (
    BaseEventClassifier,
    MedFuseClassifier,
    available_models,
    create_model,
    registered_classes,
    unregister_model,
)

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "contributing.md"


@pytest.fixture(scope="module")
def guide():
    """The guide's Python blocks executed in order, in one namespace; registrations undone
    afterwards."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(blocks) == 3, "the guide's three worked examples"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(GUIDE), "exec"), namespace)  # noqa: S102 (our own docs)
    yield namespace
    unregister_model("count_logistic")
    unregister_cohort("toy_counts")


def test_the_guide_registers_a_model_on_the_base_classifier_and_a_cohort(guide):
    cls = guide["CountLogistic"]
    assert issubclass(cls, BaseEventClassifier) and not issubclass(cls, MedFuseClassifier)
    assert "count_logistic" in available_models() and registered_classes()["CountLogistic"] is cls
    assert "toy_counts" in available_cohorts()
    val = guide["val"]
    assert val.split == ("val",)  # "tuning" is the MEDS word for val
    auroc = roc_auc_score(val.labels.loc[guide["risk"].index], guide["risk"])
    assert auroc > 0.8, auroc  # the task is learnable from counts


def test_the_new_model_saves_to_safe_files_and_loads_back(guide, tmp_path):
    train, val = load_cohort("toy_counts", split="train"), load_cohort("toy_counts", split="val")
    model = create_model("count_logistic", random_state=0).fit(train.to_event_set(), train.labels)
    save_model(model, tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    assert type(loaded) is guide["CountLogistic"]
    np.testing.assert_array_equal(loaded.predict_proba(val.to_event_set()),
                                  model.predict_proba(val.to_event_set()))
    unregister_model("count_logistic")
    try:  # unregistered, the same folder is refused: files name only registered classes
        with pytest.raises(ModelFileError, match="CountLogistic"):
            load_model(tmp_path / "model")
    finally:
        from medfuse_sk.models import register_model

        register_model("count_logistic", guide["CountLogistic"])


def test_the_new_model_votes_beside_a_library_model(guide):
    train, val = load_cohort("toy_counts", split="train"), load_cohort("toy_counts", split="val")
    X, X_val = train.to_event_set(), val.to_event_set()
    members = [("counts", create_model("count_logistic", random_state=0)),
               ("forest", create_model("random_forest", random_state=0, n_estimators=20))]
    vote = make_voting(members).fit(X, train.labels.loc[X.stay_ids].to_numpy())
    own = [clone(est).fit(X, train.labels.loc[X.stay_ids].to_numpy()).predict_proba(X_val)
           for _, est in members]
    np.testing.assert_allclose(vote.predict_proba(X_val), np.mean(own, axis=0))


def test_the_new_model_runs_from_the_command_line(guide, tmp_path, capsys):
    train, val = load_cohort("toy_counts", split="train"), load_cohort("toy_counts", split="val")
    train.events.to_csv(tmp_path / "events.csv", index=False)
    train.labels.rename_axis("stay_id").reset_index().to_csv(tmp_path / "labels.csv", index=False)
    val.events.to_csv(tmp_path / "val.csv", index=False)
    main(["fit", str(tmp_path / "events.csv"), str(tmp_path / "labels.csv"), "--model",
          "count_logistic", "--set", "n_steps=50", "--out", str(tmp_path / "model"), "--quiet"])
    main(["predict", str(tmp_path / "model"), str(tmp_path / "val.csv"), "--out",
          str(tmp_path / "risk.csv"), "--quiet"])
    risk = pd.read_csv(tmp_path / "risk.csv", index_col="stay_id")["risk"]
    expected = create_model("count_logistic", n_steps=50, random_state=0).fit(
        train.to_event_set(), train.labels).predict_risk(val.to_event_set())
    np.testing.assert_allclose(risk.loc[expected.index].to_numpy(), expected.to_numpy())
    with pytest.raises(SystemExit):  # a key the model does not have, before any data
        main(["fit", "absent.csv", "absent.csv", "--model", "count_logistic", "--set",
              "n_step=5", "--out", str(tmp_path / "x")])
    assert "did you mean 'n_steps'" in capsys.readouterr().err


def test_a_model_without_token_embeddings_is_refused_by_explain_with_a_reason(guide):
    train = load_cohort("toy_counts", split="train")
    model = create_model("count_logistic", random_state=0).fit(train.to_event_set(), train.labels)
    with pytest.raises(TypeError, match="token embeddings.*CountLogistic"):
        explain(model, train.to_event_set())
