"""The command line's shared fixtures: the packaged sample written as a user's files, and a
model folder fitted on them by `medfuse fit`."""

import pytest

from medfuse_sk.cli import main

#: Small settings of the model folder every command test reads.
FIT_SETTINGS = ["--set", "max_epochs=2", "--set", "d_model=16", "--set", "n_heads=2",
                "--set", "window=4.0", "--set", "max_tokens=60"]


@pytest.fixture(scope="session")
def fit_settings():
    """:data:`FIT_SETTINGS` for the test modules (``from conftest import`` would get whichever
    ``conftest.py`` pytest imported last when several folders are collected)."""
    return FIT_SETTINGS


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    """The sample written as a user would have it: train events CSV, held-out events parquet."""
    from medfuse_sk.datasets import load_sample

    root = tmp_path_factory.mktemp("user_data")
    train, test = load_sample("train"), load_sample("val")
    train_ids, test_ids = train.stay_ids[:200], test.stay_ids[:120]
    events = train.events[train.events["stay_id"].isin(train_ids)].rename(
        columns={"stay_id": "icustay", "feature": "variable"})
    events["feature_type"] = "x"  # an extra column is ignored
    events.to_csv(root / "events.csv.gz", index=False)
    held_out = test.events[test.events["stay_id"].isin(test_ids)].rename(
        columns={"stay_id": "icustay", "feature": "variable"})
    held_out.to_parquet(root / "held_out.parquet")
    for name, labels, ids in (("labels.csv", train.labels, train_ids),
                              ("held_out_labels.csv", test.labels, test_ids)):
        labels.loc[ids].rename_axis("icustay").rename("died").reset_index().to_csv(
            root / name, index=False)
    return root


@pytest.fixture(scope="session")
def fitted_dir(files, tmp_path_factory):
    """A MedFuse folder fitted on ``files`` (columns icustay / variable, Gender and ICUType
    categorical)."""
    out = tmp_path_factory.mktemp("model") / "model"
    main(["fit", str(files / "events.csv.gz"), str(files / "labels.csv"), "--out", str(out),
          "--stay", "icustay", "--feature", "variable", "--categorical", "Gender", "ICUType",
          *FIT_SETTINGS])
    return out
