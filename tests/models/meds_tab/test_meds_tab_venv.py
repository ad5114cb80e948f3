"""meds_tab for real (slow): the library builds meds-tab's virtualenv in a fresh folder (from a
cached wheel folder, filled from the registry on the first run), then ``medfuse benchmark
--meds ... --task ... --models meds_tab xgboost`` fits both on a dataset from
meds-testing-helpers' generator and a task whose label a static code decides (so that
misaligned predictions would score near chance)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medfuse_sk.models.meds_tab import ENV_VARIABLE, MEDSTabError, ensure_environment
from medfuse_sk.models.meds_tab._environment import MARKER, REQUIREMENTS

#: Wheels for the virtualenvs the slow tests build, reused by later runs (as the MEDS-DEV
#: entry's test does).
WHEEL_CACHE = Path(os.environ.get("MEDFUSE_WHEEL_CACHE", Path.home() / ".cache" / "medfuse_sk" / "wheels"))


def _build_offline_first(monkeypatch) -> object:
    """The library's own build, offline from the wheel folder; on a miss the folder is filled
    from the registry (``pip wheel``: source-only packages are built once) and the build runs
    again, offline."""
    links = " ".join(p for p in (str(WHEEL_CACHE), os.environ.get("PIP_FIND_LINKS", "")) if p)
    monkeypatch.setenv("PIP_FIND_LINKS", links)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    try:
        return ensure_environment(progress=print)
    except MEDSTabError as exc:
        print(f"offline build failed, filling {WHEEL_CACHE}: {str(exc)[-300:]}")
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_NO_INDEX", "PIP_FIND_LINKS")}
    fetched = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "-w",
                              str(WHEEL_CACHE), *REQUIREMENTS], capture_output=True, text=True,
                             env=env)
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    return ensure_environment(progress=print)


def _task(dataset: Path, labels_dir: Path) -> pd.DataFrame:
    """At each subject's 4th timed event: does the subject have the static code ``static//0``?
    A static code, not the timed events: meds-tab 0.2.0 drops the last event of every
    (subject, time) from its time-series aggregations (docs/benchmark.md, "MEDS-Tab"), so a
    label decided by timed events is learnt only in part, whereas its static features are whole.
    """
    import polars as pl

    data = pl.read_parquet(dataset / "data" / "**" / "*.parquet")
    timed = data.filter(pl.col("time").is_not_null()).sort("subject_id", "time")
    timed = timed.with_columns(n=pl.int_range(pl.len()).over("subject_id"))
    at = timed.filter(pl.col("n") == 3).select("subject_id", prediction_time=pl.col("time"))
    static = (data.filter(pl.col("code") == "static//0").select("subject_id").unique()
              .with_columns(boolean_value=pl.lit(True)))
    labels = (at.join(static, on="subject_id", how="left")
              .with_columns(pl.col("boolean_value").fill_null(False)).sort("subject_id"))
    labels_dir.mkdir(parents=True)
    labels.write_parquet(labels_dir / "0.parquet")
    splits = pl.read_parquet(dataset / "metadata" / "subject_splits.parquet")
    return labels.join(splits, on="subject_id").to_pandas()


@pytest.mark.slow
def test_meds_tab_builds_its_virtualenv_and_runs_in_the_benchmark(tmp_path, monkeypatch):
    pytest.importorskip("meds_testing_helpers")
    pytest.importorskip("polars")
    from sklearn.metrics import roc_auc_score

    from medfuse_sk.cli import main

    venv = tmp_path / "meds-tab-env"
    monkeypatch.setenv(ENV_VARIABLE, str(venv))
    env = _build_offline_first(monkeypatch)
    assert env.path == venv and env.built_now
    marker = json.loads((venv / MARKER).read_text())
    assert marker["requirements"] == ["meds-tab==0.2.0"]
    assert env.versions["meds-tab"] == "0.2.0" and env.versions["meds-evaluation"] == "0.0.3"
    monkeypatch.delenv("PIP_NO_INDEX")

    dataset = tmp_path / "dataset"
    generator = Path(sys.executable).parent / "build_sample_MEDS_dataset"
    subprocess.run([str(generator), "N_subjects=400", "seed=3", f"output_dir={dataset}"],
                   check=True, capture_output=True, cwd=tmp_path)
    labels = _task(dataset, tmp_path / "task")
    scored = labels[labels["split"] == "tuning"]
    assert len(scored) >= 25 and scored["boolean_value"].nunique() == 2

    out = tmp_path / "bench"
    status = main(["benchmark", "--meds", str(dataset), "--task", str(tmp_path / "task"),
                   "--models", "meds_tab", "xgboost", "--seeds", "0", "--max-settings", "0",
                   "--n-bootstrap", "200", "--out", str(out)])
    assert status == 0
    table = pd.read_csv(out / "table.csv").set_index("model")
    assert table.loc["meds_tab", "status"] == "ok", table.loc["meds_tab"].to_dict()

    predictions = pd.read_parquet(out / "predictions" / "meds_tab" / "seed_0.parquet")
    assert str(predictions["predicted_boolean_probability"].dtype) == "float64"
    got = predictions[["subject_id", "prediction_time", "boolean_value"]].sort_values("subject_id")
    want = scored[["subject_id", "prediction_time", "boolean_value"]].sort_values("subject_id")
    assert np.array_equal(got["subject_id"].to_numpy(), want["subject_id"].to_numpy())
    assert (got["prediction_time"].to_numpy() == want["prediction_time"].to_numpy()).all()
    assert (got["boolean_value"].to_numpy() == want["boolean_value"].to_numpy()).all()
    p = predictions["predicted_boolean_probability"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    auroc = roc_auc_score(predictions["boolean_value"], p)  # misaligned rows would be near 0.5
    print(f"meds_tab AUROC {auroc:.3f}, xgboost AUROC {table.loc['xgboost', 'auroc_mean']:.3f}")
    assert auroc > 0.9
    assert table.loc["meds_tab", "auroc_mean"] == pytest.approx(auroc, abs=1e-9)
    record = json.loads(next((out / "runs" / "meds_tab").glob("fit-seed0-*.json")).read_text())
    assert record["fit_cpu_s"] > 0.3 * record["fit_wall_s"]  # the commands' CPU is counted

    # the estimator outside the benchmark: the same seed on the same training samples gives the
    # benchmark's predictions again, after a pickle round trip; safe model files hold its state
    from medfuse_sk.datasets.meds import load_meds
    from medfuse_sk.io import load_model, save_model
    from medfuse_sk.models import create_model

    cohort = load_meds(dataset, tmp_path / "task", split=["train", "tuning"])
    part = cohort.stay_split.loc[cohort.event_set.stay_ids].to_numpy()
    X_train = cohort.event_set[np.flatnonzero(part == "train")]
    X_scored = cohort.event_set[np.flatnonzero(part == "val")]
    model = create_model("meds_tab", random_state=0).fit(X_train, cohort.labels)
    assert model.environment_["path"] == str(venv) and model.n_features_ > 0
    again = pickle.loads(pickle.dumps(model)).predict_proba(X_scored)[:, 1]
    by_key = predictions.set_index(["subject_id", "prediction_time"])["predicted_boolean_probability"]
    keys = cohort.samples.loc[X_scored.stay_ids, ["subject_id", "prediction_time"]]
    np.testing.assert_allclose(again, by_key.loc[pd.MultiIndex.from_frame(keys)].to_numpy(),
                               rtol=0, atol=1e-12)
    save_model(model, tmp_path / "saved")
    loaded = load_model(tmp_path / "saved")
    assert (loaded.booster_, loaded.config_, loaded.codes_metadata_) == (
        model.booster_, model.config_, model.codes_metadata_)
