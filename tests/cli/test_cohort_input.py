"""`--cohort NAME --split NAME`: a registered cohort read in place of the event and label files,
on every command that reads data."""

import json

import numpy as np
import pandas as pd
import pytest

from medfuse_sk.cli import main
from medfuse_sk.datasets import Cohort, load_cohort, register_cohort, unregister_cohort
from medfuse_sk.io import load_model

SETTINGS = ["--set", "max_epochs=1", "--set", "d_model=16", "--set", "n_heads=2"]


def _toy(split="train", data_dir=None):
    seed = {"train": 0, "val": 1, "test": 2}[split]
    rng = np.random.default_rng(seed)
    rows, labels = [], {}
    for stay in range(seed * 1000, seed * 1000 + 40):
        level = rng.normal()
        rows += [(stay, float(t), "K", level + rng.normal(0, 0.1)) for t in range(4)]
        labels[stay] = int(level > 0)
    events = pd.DataFrame(rows, columns=["stay_id", "time", "feature", "value"])
    ids = np.array(list(labels))
    return Cohort(events=events, labels=pd.Series(labels, name="y").loc[ids], stay_ids=ids,
                  report={}, split=(split,))


@pytest.fixture(scope="module")
def toy():
    register_cohort("toy_cli", _toy)
    yield "toy_cli"
    unregister_cohort("toy_cli")


def test_fit_predict_evaluate_read_a_registered_cohort(toy, tmp_path, capsys):
    model_dir = tmp_path / "model"
    main(["fit", "--cohort", toy, "--out", str(model_dir), "--quiet", *SETTINGS])
    main(["predict", str(model_dir), "--cohort", toy, "--split", "tuning", "--out",
          str(tmp_path / "risk.csv"), "--quiet"])
    val = load_cohort(toy, split="val")
    risk = pd.read_csv(tmp_path / "risk.csv", index_col=0)["risk"]
    expected = load_model(model_dir).predict_proba(val.to_event_set())[:, 1]
    assert risk.index.tolist() == val.stay_ids.tolist()
    np.testing.assert_allclose(risk.to_numpy(), expected, rtol=1e-6)
    main(["evaluate", str(model_dir), "--cohort", toy, "--split", "val", "--out",
          str(tmp_path / "eval"), "--quiet", "--n-bootstrap", "20"])
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n_stays"] == 40 and metrics["eval_split"] == "val"
    from sklearn.metrics import roc_auc_score

    assert metrics["auroc"]["value"] == pytest.approx(roc_auc_score(val.labels, expected))


@pytest.mark.parametrize("argv, message", [
    (["fit", "--out", "x"], "give EVENTS LABELS files, --meds DIR --task DIR, or --cohort NAME "
                            "(missing: EVENTS LABELS)"),
    (["fit", "events.csv", "--cohort", "toy_cli", "--out", "x"], "leave out the file(s) events.csv"),
    (["fit", "--cohort", "toy_clj", "--out", "x"], "no cohort named 'toy_clj' (did you mean 'toy_cli'?)"),
    (["p12", "--cohort", "p13"], "no cohort named 'p13'"),
])
def test_input_errors_are_one_line(toy, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--quiet"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"medfuse {argv[0]}: error: ") and message in err, err
