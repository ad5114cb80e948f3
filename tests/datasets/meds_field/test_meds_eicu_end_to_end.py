"""The real eICU demo tables, end to end (slow): the eicu-meds ETL with the shipped configuration
(never downloading), ACES with the shipped task, MedFuse and XGBoost fitted on the MEDS samples,
scored with bootstrap intervals — through ``benchmarks/meds_eicu.py``, the command behind the
figures of docs/meds.md. The ETL and ACES output are checked against the raw tables read
independently (pandas on ``patient.csv.gz``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT.parent / "shared" / "data" / "eicu-demo"


def _reference_task(demo: Path):
    """The shipped task read off ``patient.csv.gz``: per health-system stay (the ETL's subject),
    the first ICU admission; kept when no unit or hospital discharge falls within its first 48 h
    (bounds included); label = the hospital discharge status is Expired."""
    import pandas as pd

    p = pd.read_csv(demo / "patient.csv.gz")
    unit_in = -p["hospitaladmitoffset"]  # minutes after the hospital admission
    unit_out = unit_in + p["unitdischargeoffset"]
    hosp_out = unit_in + p["hospitaldischargeoffset"]
    t0 = unit_in.groupby(p["patienthealthsystemstayid"]).transform("min")
    end = t0 + 48 * 60
    closes = unit_out.between(t0, end) | hosp_out.between(t0, end)
    excluded = closes.groupby(p["patienthealthsystemstayid"]).any()
    status = p.groupby("patienthealthsystemstayid")["hospitaldischargestatus"].first()
    kept = excluded[~excluded].index
    return (status.loc[kept] == "Expired").astype(bool), p


@pytest.mark.slow
@pytest.mark.skipif(not DEMO.is_dir(), reason="the eICU demo tables are not in ../shared/data")
def test_eicu_demo_through_etl_aces_and_models(tmp_path):
    pytest.importorskip("eICU_MEDS")
    pytest.importorskip("aces")
    pytest.importorskip("xgboost")
    import polars as pl

    out = tmp_path / "result.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "meds_eicu.py"), "--raw", str(DEMO),
               "--work", str(tmp_path / "work"), "--models", "medfuse", "xgboost", "--seeds", "0",
               "--epochs", "5", "--cli", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())

    # the ETL: the demo's two missing tables skipped, every health-system stay a subject
    reference, patients = _reference_task(DEMO)
    etl = result["prepare"]["etl"]
    assert set(etl["skipped_tables"]) == {"lab", "vitalPeriodic"}
    assert etl["subjects"] == patients["patienthealthsystemstayid"].nunique() == 2174
    expired = patients.groupby("patienthealthsystemstayid")["hospitaldischargestatus"].first() == "Expired"
    assert etl["meds_death"] == int(expired.sum())
    assert etl["rows"] > 1_000_000 and set(etl["subject_splits"]) == {"train", "tuning", "held_out"}

    # the ETL's output and the task follow the `meds` schemas
    from medfuse_sk.datasets.meds import validate_meds

    checked = validate_meds(result["prepare"]["meds_dir"], result["prepare"]["task_dir"])
    assert checked, checked

    # ACES: exactly the reference's samples and labels
    labels = pl.read_parquet(Path(result["prepare"]["task_dir"]) / "**" / "*.parquet")
    got = dict(zip(labels["subject_id"].to_list(), labels["boolean_value"].to_list()))
    assert got == reference.to_dict()
    assert result["prepare"]["task"]["samples"] == len(reference) == 819
    assert result["prepare"]["task"]["positive"] == int(reference.sum()) == 94

    # the models: scores with intervals on the same held-out samples; meds-evaluation agrees
    held_out = result["samples"]["held_out"]
    assert held_out["n"] == result["prepare"]["task"]["splits"]["held_out"]["samples"]
    for row in result["rows"]:
        assert row["n"] == result["samples"][row["split"]]["n"]
        for metric in ("auroc", "auprc"):
            m = row[metric]
            assert 0 <= m["ci_low"] <= m["value"] <= m["ci_high"] <= 1 and m["ci_high"] > m["ci_low"]
        if "meds_evaluation" in row:
            assert row["meds_evaluation"]["roc_auc_score"] == pytest.approx(row["auroc"]["value"], abs=1e-9)
            assert row["meds_evaluation"]["average_precision_score"] == pytest.approx(
                row["auprc"]["value"], abs=1e-9)
    assert {(r["model"], r["split"]) for r in result["rows"]} == {
        (m, s) for m in ("medfuse", "xgboost") for s in ("tuning", "held_out")}
    # `medfuse fit --meds ... --task ...` and `medfuse evaluate` give the Python API's numbers
    assert result["cli"]["max_abs_difference_from_api"] < 1e-5
    api = next(r for r in result["rows"] if r["model"] == "medfuse" and r["split"] == "held_out")
    assert result["cli"]["auroc"]["value"] == pytest.approx(api["auroc"]["value"], abs=1e-6)
