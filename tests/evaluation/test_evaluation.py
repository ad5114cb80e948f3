"""One evaluation path: any of our models scored the same way, the same three files."""

import importlib.util
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.datasets import load_sample
from medfuse_sk.evaluation._evaluate import evaluate
from medfuse_sk.models import make_random_forest

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def split():
    sample = load_sample("all")
    train_ids, test_ids = sample.stay_ids[:150], sample.stay_ids[-100:]
    events = sample.events

    def event_set(ids):
        return EventSet.from_long(events[events["stay_id"].isin(ids)],
                                  categorical=sample.categorical, stays=ids)

    return event_set(train_ids), event_set(test_ids), sample.labels


@pytest.fixture(scope="module")
def models(split):
    X, _, labels = split
    y = labels.loc[X.stay_ids]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        medfuse = make_pipeline(EventTokenizer(window=4.0, max_tokens=60),
                                MedFuseClassifier(d_model=16, n_heads=2, max_epochs=2, verbose=0,
                                                  random_state=0)).fit(X, y)
        forest = make_random_forest(random_state=0, n_estimators=20).fit(X, y)
    return {"medfuse": medfuse, "random_forest": forest}


@pytest.mark.parametrize("name", ["medfuse", "random_forest"])
def test_every_model_writes_the_same_files_with_independently_checked_metrics(
        models, split, name, tmp_path):
    _, X_test, labels = split
    model = models[name]
    result = evaluate(model, X_test, labels, split="val", out=tmp_path, info={"seed": 0},
                      n_bootstrap=200)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "metrics.json",
                                                          "predictions.csv"]
    assert json.loads((tmp_path / "metrics.json").read_text()) == result
    proba = model.predict_proba(X_test)[:, 1]
    y = labels.loc[X_test.stay_ids].to_numpy()
    assert result["eval_split"] == "val" and result["seed"] == 0
    assert result["n_stays"] == 100 and result["n_positive"] == int(y.sum())
    assert result["auprc"]["value"] == pytest.approx(average_precision_score(y, proba))
    assert result["auroc"]["value"] == pytest.approx(roc_auc_score(y, proba))
    assert result["accuracy"]["value"] == pytest.approx(accuracy_score(y, proba >= 0.5))
    for key in ("auprc", "auroc", "accuracy"):
        assert result[key]["ci_low"] <= result[key]["value"] <= result[key]["ci_high"]
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert predictions.columns.tolist() == ["stay_id", "label", "proba"]
    assert predictions["stay_id"].tolist() == X_test.stay_ids.tolist()
    np.testing.assert_allclose(predictions["proba"], proba, rtol=1e-6)
    np.testing.assert_array_equal(predictions["label"], y)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_labels_are_aligned_by_stay_id_and_missing_ones_named(models, split):
    _, X_test, labels = split
    shuffled = labels.sample(frac=1.0, random_state=0)
    a = evaluate(models["random_forest"], X_test, shuffled, n_bootstrap=0)
    b = evaluate(models["random_forest"], X_test, labels.loc[X_test.stay_ids].to_numpy(),
                 n_bootstrap=0)
    assert a["auprc"] == b["auprc"]
    missing = labels.drop(X_test.stay_ids[:3])
    with pytest.raises(ValueError, match=r"no label for 3 scored stay"):
        evaluate(models["random_forest"], X_test, missing)


def test_the_report_summarizes_what_evaluate_writes(models, split, tmp_path):
    """benchmarks/p12_report.py summarize reads evaluate's metrics.json like the committed ones."""
    _, X_test, labels = split
    spec = importlib.util.spec_from_file_location("p12_report", ROOT / "benchmarks" / "p12_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    committed = ROOT / "benchmarks" / "results" / "p12" / "xgboost" / "seed0" / "metrics.json"
    (tmp_path / "xgboost" / "seed0").mkdir(parents=True)
    shutil.copy(committed, tmp_path / "xgboost" / "seed0" / "metrics.json")
    for seed in (0, 1):
        evaluate(models["random_forest"], X_test, labels, split="val", n_bootstrap=50,
                 out=tmp_path / "random_forest" / f"seed{seed}",
                 info={"seed": seed, "train_seconds": 1.0})
    rows = report.summarize(tmp_path)
    assert rows["random_forest"]["n_seeds"] == 2 and rows["xgboost"]["n_seeds"] == 1
    assert rows["xgboost"]["auprc"]["mean"] == json.loads(committed.read_text())["auprc"]["value"]
