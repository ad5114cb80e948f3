"""`medfuse benchmark`: a user's files or a registered cohort in, the table printed and the
benchmark's files written; user errors in one line."""

import json

import numpy as np
import pandas as pd
import pytest
from synthetic import event_count_classifier, u_shaped_task

from medfuse_sk.cli import main
from medfuse_sk.datasets import Cohort, register_cohort, unregister_cohort
from medfuse_sk.models import register_model, unregister_model


def make_counter(random_state=0, **params):
    """A stand-in that is no network: risk logistic in the number of K events."""
    return event_count_classifier()(count_feature="K", random_state=random_state, **params)


def _toy(split="train", data_dir=None):
    """A cohort with fixed splits (train 0, val 1, test 2) that knows each stay's split."""
    splits = [split] if isinstance(split, str) else list(split)
    events, labels, parts = [], [], []
    for name in splits:
        seed = {"train": 0, "val": 1, "test": 2}[name]
        e, y = u_shaped_task(n_stays=120, seed=seed)
        e["stay_id"] += 1000 * seed
        y.index += 1000 * seed
        events.append(e)
        labels.append(y)
        parts.append(pd.Series(name, index=y.index))
    labels = pd.concat(labels)
    return Cohort(events=pd.concat(events, ignore_index=True), labels=labels,
                  stay_ids=labels.index.to_numpy(), report={"made": "here"},
                  split=tuple(splits), stay_split=pd.concat(parts))


@pytest.fixture(scope="module")
def registered():
    register_model("cli_counter", make_counter, description="a stand-in")
    register_cohort("toy_bench", _toy)
    yield
    unregister_model("cli_counter")
    unregister_cohort("toy_bench")


@pytest.fixture(scope="module")
def bench_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench_files")
    events, labels = u_shaped_task(n_stays=240, seed=3)
    events.rename(columns={"stay_id": "icustay"}).to_csv(root / "events.csv", index=False)
    labels.rename_axis("icustay").rename("died").reset_index().to_csv(root / "labels.csv",
                                                                       index=False)
    return root


def test_files_in_table_out(registered, bench_files, tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(["benchmark", str(bench_files / "events.csv"), str(bench_files / "labels.csv"),
                 "--stay", "icustay", "--models", "cli_counter", "xgboost", "--seeds", "0", "1",
                 "--max-settings", "1", "--test-size", "0.25", "--split-seed", "3", "--jobs", "0",
                 "--n-bootstrap", "100", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr()
    assert "| cli_counter |" in printed.out and "| xgboost |" in printed.out
    assert "60 scored stays" in printed.out  # 25 % of 240
    assert "[medfuse benchmark] 2 model(s), seeds 0 1: 6 fit(s) to run" in printed.err
    table = pd.read_csv(out / "table.csv").set_index("model")
    assert (table["status"] == "ok").all() and (table["seeds_ok"] == 2).all()
    assert table.loc["xgboost", "tuning_fits"] == 2  # the defaults and one grid setting
    protocol = json.loads((out / "protocol.json").read_text())
    assert protocol["data"]["source"] == "files"
    assert "train_test_split(test_size=0.25, random_state=3)" in protocol["data"]["split"]
    assert protocol["command"].startswith("medfuse ")
    assert (out / "predictions" / "xgboost.csv").exists()


def test_a_cohort_trains_on_train_and_scores_the_split_asked(registered, tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["benchmark", "--cohort", "toy_bench", "--split", "test", "--models",
                 "cli_counter", "--seeds", "0", "--jobs", "0", "--n-bootstrap", "50",
                 "--out", str(out), "--quiet"]) == 0
    protocol = json.loads((out / "protocol.json").read_text())
    assert protocol["data"]["train_split"] == "train" and protocol["data"]["eval_split"] == "test"
    assert protocol["data"]["train"]["stays"] == 120 and protocol["data"]["eval"]["stays"] == 120
    stays = pd.read_csv(out / "predictions" / "cli_counter.csv")["stay_id"]
    assert stays.between(3000, 3999).all()  # the test split's stays (ids 1000 + 2000)
    assert capsys.readouterr().err == ""  # --quiet


@pytest.mark.parametrize("argv, message", [
    (["--cohort", "toy_bench", "--models", "xgbost"], "--models: no model named 'xgbost' "
                                                      "(did you mean 'xgboost'?)"),
    (["--cohort", "toy_bench", "--models", "all", "xgboost"], "--models: all means every"),
    (["--cohort", "toy_bench", "--models", "xgboost", "--max-settings", "9"],
     "--max-settings 9: the tuning budget is the defaults plus 0 to 8 settings"),
    (["--cohort", "toy_bench", "--split", "train", "--models", "xgboost"],
     "--split train: the models train on train"),
    (["--models", "xgboost"], "give EVENTS LABELS files, --meds DIR --task DIR, or --cohort NAME"),
    (["--cohort", "toy_bench", "--models", "cli_counter", "--subgroups", "Kk"],
     "--subgroups Kk: no feature of that name in the scored stays; did you mean 'K'?"),
    (["--cohort", "toy_bench", "--models", "cli_counter", "--jobs", "-1"], "--jobs -1"),
    (["--cohort", "toy_bench", "--models", "cli_counter", "--set", "xgboost:max_depth=2"],
     "--set xgboost:max_depth=2: xgboost is not among the models this run fits (cli_counter)"),
    (["--cohort", "toy_bench", "--models", "cli_counter", "--set", "cli_counter:CC=2"],
     "pinned parameter 'CC' of cli_counter"),
])
def test_user_errors_are_one_line(registered, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", *argv, "--out", str(tmp_path / "b")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()  # progress lines may come first
    errors = [line for line in err if not line.startswith("[medfuse benchmark]")]
    assert len(errors) == 1 and errors[0].startswith("medfuse benchmark: error: "), err
    assert message in errors[0]


def test_set_pins_a_parameter_of_one_model_on_every_fit(registered, tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["benchmark", "--cohort", "toy_bench", "--models", "cli_counter", "--seeds", "0",
                 "--jobs", "0", "--n-bootstrap", "50", "--set", "cli_counter:count_feature=Na",
                 "--out", str(out), "--quiet"]) == 0
    protocol = json.loads((out / "protocol.json").read_text())
    assert protocol["models"]["cli_counter"]["pinned"] == {"count_feature": "Na"}
    assert protocol["models"]["cli_counter"]["chosen"] == {"count_feature": "Na"}
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--cohort", "toy_bench", "--models", "cli_counter", "--set", "C=1",
              "--out", str(tmp_path / "b")])
    assert exit_info.value.code == 2
    assert "expected MODEL:KEY=VALUE (e.g. mtan:max_epochs=12), got 'C=1'" in capsys.readouterr().err


def test_files_with_a_split_name_and_a_foreign_folder_are_refused(registered, bench_files, tmp_path,
                                                                  capsys):
    base = ["benchmark", str(bench_files / "events.csv"), str(bench_files / "labels.csv"), "--stay",
            "icustay", "--models", "cli_counter", "--jobs", "0"]
    with pytest.raises(SystemExit):
        main([*base, "--split", "test", "--out", str(tmp_path / "a")])
    assert "--split test applies to --cohort and --meds" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(SystemExit):
        main([*base, "--out", str(tmp_path / "mine")])
    assert "not empty and holds no benchmark" in capsys.readouterr().err
    assert np.array_equal(sorted(p.name for p in (tmp_path / "mine").iterdir()), ["notes.txt"])


def test_meds_input_writes_meds_evaluation_predictions(registered, tmp_path, capsys):
    import pyarrow.parquet as pq

    from medfuse_sk.datasets.meds import write_meds

    export = write_meds(_toy(["train", "val"]), tmp_path / "meds", prediction_time=48.0)
    out = tmp_path / "bench"
    assert main(["benchmark", "--meds", str(export.data_dir), "--task", str(export.task_dir),
                 "--models", "cli_counter", "--seeds", "0", "1", "--jobs", "0",
                 "--n-bootstrap", "50", "--out", str(out), "--quiet"]) == 0
    protocol = json.loads((out / "protocol.json").read_text())
    assert protocol["data"]["source"] == "meds" and protocol["data"]["eval"]["stays"] == 120
    path = out / "predictions" / "cli_counter" / "seed_1.parquet"
    meds = pd.read_parquet(path)
    assert list(meds.columns) == ["subject_id", "prediction_time", "boolean_value",
                                  "predicted_boolean_value", "predicted_boolean_probability"]
    assert str(pq.read_schema(path).field("predicted_boolean_probability").type) == "double"
    flat = pd.read_csv(out / "predictions" / "cli_counter.csv")
    np.testing.assert_allclose(meds["predicted_boolean_probability"],
                               flat.loc[flat["seed"] == 1, "proba"], rtol=0, atol=1e-12)
    assert meds["boolean_value"].astype(int).tolist() == flat.loc[flat["seed"] == 1, "label"].tolist()
