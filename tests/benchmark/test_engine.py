"""The benchmark engine on stand-in models: its table against the predictions it wrote and a
model fitted by hand, the tuning's inner share, resuming after an interruption, worker
processes with one thread each, a failing or dying model reported while the rest go on."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bench_models import SEEN, CountModel, make_count
from sklearn.metrics import average_precision_score, roc_auc_score

from medfuse_sk.benchmark import GRIDS, BenchmarkData, run_benchmark
from medfuse_sk.data import EventSet

HERE = Path(__file__).resolve().parent


def _run(data, out, models, **kwargs):
    kwargs.setdefault("seeds", [0, 1])
    kwargs.setdefault("in_process", True)
    kwargs.setdefault("n_bootstrap", 100)
    lines = []
    result = run_benchmark(data, models, out, progress=lines.append, **kwargs)
    return result, lines


@pytest.fixture
def grid(monkeypatch):
    """A grid for the stand-in: C = 1.0 is its default, so three settings besides it."""
    monkeypatch.setitem(GRIDS, "bench_count", {"C": [0.001, 0.01, 1.0, 100.0]})


def _fits(kind="fit"):
    return [stays for what, _, stays in SEEN if what == kind]


def test_the_table_is_what_the_written_predictions_score_and_a_failure_is_a_row(
        bench_data, stand_ins, grid, tmp_path):
    result, lines = _run(bench_data, tmp_path, ["bench_count", "bench_failing"],
                         subgroups=["sex", "age"])
    table = pd.read_csv(tmp_path / "table.csv").set_index("model")
    predictions = pd.read_csv(tmp_path / "predictions" / "bench_count.csv")
    by_seed = dict(list(predictions.groupby("seed")))
    assert sorted(by_seed) == [0, 1]
    auprc = [average_precision_score(p["label"], p["proba"]) for p in by_seed.values()]
    auroc = [roc_auc_score(p["label"], p["proba"]) for p in by_seed.values()]
    row = table.loc["bench_count"]
    assert row["auprc_mean"] == pytest.approx(np.mean(auprc), abs=1e-12)
    assert row["auprc_sd"] == pytest.approx(np.std(auprc, ddof=1), abs=1e-12)
    assert row["auroc_mean"] == pytest.approx(np.mean(auroc), abs=1e-12)
    assert row["auprc_ci_low"] < row["auprc_mean"] < row["auprc_ci_high"]
    assert row["status"] == "ok" and row["seeds_ok"] == 2 and row["threads"] == 1
    assert row["brier"] == pytest.approx(np.mean(
        [np.mean((p["proba"] - p["label"]) ** 2) for p in by_seed.values()]), abs=1e-12)
    assert row["auroc_mean"] > 0.8  # the stand-in learns the U-shaped task

    # the predictions are those of the chosen setting fitted by hand on every training stay
    chosen = result.plans["bench_count"].chosen
    by_hand = make_count(random_state=1, **chosen).fit(bench_data.X_train, bench_data.y_train)
    seed1 = by_seed[1]
    assert seed1["stay_id"].tolist() == bench_data.X_eval.stay_ids.tolist()
    assert seed1["label"].tolist() == bench_data.y_eval.tolist()
    np.testing.assert_allclose(seed1["proba"], by_hand.predict_proba(bench_data.X_eval)[:, 1],
                               rtol=0, atol=1e-12)

    failed = table.loc["bench_failing"]
    assert failed["status"] == "failed" and "always fails" in failed["error"]
    assert np.isnan(failed["auprc_mean"])
    assert table.index.tolist() == ["bench_count", "bench_failing"]
    assert any("bench_failing seed 0: FAILED, ValueError in fit" in line for line in lines)

    md = (tmp_path / "table.md").read_text()
    assert "| bench_failing |" in md and "always fails" in md
    for name in ("paired.csv", "subgroups.csv", "subgroup_gaps.csv", "auprc_vs_fit_time.png",
                 "reliability.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    protocol = json.loads((tmp_path / "protocol.json").read_text())
    assert protocol["data"]["eval"]["stays"] == len(bench_data.X_eval)
    assert protocol["settings"]["seeds"] == [0, 1]
    assert protocol["versions"]["numpy"] == np.__version__
    assert protocol["models"]["bench_count"]["chosen"] == chosen
    assert protocol["machine"]["cpu_count"] == os.cpu_count()
    assert protocol["finished"] is not None


def test_subgroup_metrics_equal_an_independent_computation(bench_data, stand_ins, tmp_path):
    _run(bench_data, tmp_path, ["bench_count"], subgroups=["Sex", "Age"], max_settings=0)
    groups = pd.read_csv(tmp_path / "subgroups.csv")
    predictions = pd.read_csv(tmp_path / "predictions" / "bench_count.csv")
    sexes = pd.Series("missing", index=bench_data.X_eval.stay_ids, dtype=object)
    ages = {}
    events = bench_data.X_eval.to_long()
    for _, e in events[events["feature"] == "Sex"].iterrows():
        sexes[e["stay_id"]] = e["value"]
    for _, e in events[events["feature"] == "Age"].iterrows():
        ages[e["stay_id"]] = float(e["value"])
    assert set(groups.loc[groups["descriptor"] == "Sex", "group"]) == set(sexes)
    for sex in ("F", "M"):
        ids = set(sexes.index[sexes == sex])
        mine = predictions[predictions["stay_id"].isin(ids)]
        expected = np.mean([roc_auc_score(p["label"], p["proba"]) for _, p in mine.groupby("seed")])
        got = groups[(groups["descriptor"] == "Sex") & (groups["group"] == sex)]
        assert got["auroc"].item() == pytest.approx(expected, abs=1e-12)
        assert got["stays"].item() == len(ids)
    age_groups = groups[groups["descriptor"] == "Age"]
    assert len(age_groups) == 4 and age_groups["group"].str.startswith("Q").all()
    assert age_groups["stays"].sum() == len(bench_data.X_eval)
    q1 = age_groups[age_groups["group"].str.startswith("Q1")]["stays"].item()
    assert q1 == sum(a <= np.quantile(list(ages.values()), 0.25) for a in ages.values())
    gaps = pd.read_csv(tmp_path / "subgroup_gaps.csv")
    values = groups.loc[groups["descriptor"] == "Sex", "auroc"].dropna()
    assert gaps.loc[gaps["descriptor"] == "Sex", "auroc_gap"].item() == pytest.approx(
        values.max() - values.min(), abs=1e-12)


def test_subgroups_need_a_static_feature_found_by_name(bench_data, stand_ins, tmp_path):
    with pytest.raises(ValueError, match="'K' is not static.*static features: Age, Sex"):
        _run(bench_data, tmp_path / "a", ["bench_count"], subgroups=["K"])
    with pytest.raises(ValueError, match="no feature of that name.*did you mean 'Age'"):
        _run(bench_data, tmp_path / "b", ["bench_count"], subgroups=["Agee"])
    assert not (tmp_path / "a" / "runs").exists()  # refused before any fit


def test_tuning_chooses_on_an_inner_share_of_the_training_stays_only(
        bench_data, stand_ins, grid, tmp_path):
    SEEN.clear()
    result, lines = _run(bench_data, tmp_path, ["bench_count"], seeds=[3, 4], inner_valid=0.25)
    plan = result.plans["bench_count"]
    assert [s.get("C") for s in plan.settings] == [None, 0.001, 0.01, 100.0]  # C=1.0 is the default
    train, scored = set(bench_data.X_train.stay_ids), set(bench_data.X_eval.stay_ids)
    fits, predicts = _fits("fit"), _fits("predict")
    inner_fit, inner_valid = set(fits[0]), set(predicts[0])
    for stays in fits[:4] + predicts[:4]:
        assert set(stays) <= train and not set(stays) & scored
    assert all(set(s) == inner_fit for s in fits[:4]) and all(set(s) == inner_valid for s in predicts[:4])
    assert not inner_fit & inner_valid and len(inner_valid) == round(0.25 * len(train))
    assert all(set(s) == train for s in fits[4:]) and all(set(s) == scored for s in predicts[4:])

    inner = {tuple(r["setting"].items()): r["inner_auprc"] for r in plan.tune.values()}
    assert plan.chosen == dict(max(inner, key=inner.get))
    # the chosen setting's inner AUPRC, recomputed by hand
    ids = sorted(inner_valid, key=list(bench_data.X_train.stay_ids).index)
    rows = [list(bench_data.X_train.stay_ids).index(i) for i in sorted(
        inner_fit, key=list(bench_data.X_train.stay_ids).index)]
    model = make_count(random_state=3, **plan.chosen).fit(bench_data.X_train[rows],
                                                          bench_data.y_train.iloc[rows])
    scored_rows = [list(bench_data.X_train.stay_ids).index(i) for i in ids]
    by_hand = average_precision_score(bench_data.y_train.loc[ids],
                                      model.predict_proba(bench_data.X_train[scored_rows])[:, 1])
    assert max(inner.values()) == pytest.approx(by_hand, abs=1e-12)
    assert any(line.startswith("bench_count: tuned on") for line in lines)


def test_finished_fits_are_not_refitted_and_a_finished_benchmark_returns_the_same_table(
        bench_data, stand_ins, tmp_path):
    _run(bench_data, tmp_path, ["bench_count"], seeds=[0], max_settings=0)
    SEEN.clear()
    _run(bench_data, tmp_path, ["bench_count"], seeds=[0, 1], max_settings=0)
    assert len(_fits()) == 1  # seed 1 only
    table = (tmp_path / "table.md").read_text()
    SEEN.clear()
    started = time.perf_counter()
    result, lines = _run(bench_data, tmp_path, ["bench_count"], seeds=[0, 1], max_settings=0)
    # "returns in seconds": SEEN proves nothing is refitted; the bound only catches a rerun that
    # redoes real work (10 s were seen here beside two busy model fits on 2 cores)
    assert time.perf_counter() - started < 30
    assert SEEN == [] and result.fitted == 0
    assert (tmp_path / "table.md").read_text() == table
    assert any("0 fit(s) to run, 2 already done" in line for line in lines)


def test_an_interrupted_run_resumes_where_it_stopped(bench_data, stand_ins, tmp_path,
                                                      monkeypatch):
    fit = CountModel._fit
    calls = []

    def interrupted_on_the_third(self, X, y, sample_weight):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return fit(self, X, y, sample_weight)

    monkeypatch.setattr(CountModel, "_fit", interrupted_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        _run(bench_data, tmp_path / "run", ["bench_count"], seeds=[0, 1, 2], max_settings=0)
    monkeypatch.setattr(CountModel, "_fit", fit)
    runs = tmp_path / "run" / "runs" / "bench_count"
    assert sorted(p.name for p in runs.glob("*.json")) == ["fit-seed0-defaults.json",
                                                           "fit-seed1-defaults.json"]
    kept = (runs / "fit-seed0-defaults.json").read_text()
    (runs / "fit-seed1-defaults.json").write_text('{"status": "o')  # cut off mid-write
    SEEN.clear()
    _run(bench_data, tmp_path / "run", ["bench_count"], seeds=[0, 1, 2], max_settings=0)
    assert len(_fits()) == 2  # seeds 1 (its record was broken) and 2
    assert (runs / "fit-seed0-defaults.json").read_text() == kept
    _run(bench_data, tmp_path / "whole", ["bench_count"], seeds=[0, 1, 2], max_settings=0)
    columns = ["model", "seeds_ok", "auprc_mean", "auprc_sd", "auprc_ci_low", "auprc_ci_high",
               "auroc_mean", "auroc_ci_low", "brier", "ece"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "run" / "table.csv")[columns],
                                  pd.read_csv(tmp_path / "whole" / "table.csv")[columns])
    np.testing.assert_array_equal(
        pd.read_csv(tmp_path / "run" / "predictions" / "bench_count.csv"),
        pd.read_csv(tmp_path / "whole" / "predictions" / "bench_count.csv"))


def test_a_failed_fit_is_kept_unless_asked_to_retry(bench_data, stand_ins, tmp_path,
                                                     monkeypatch):
    def failing(self, X, y, sample_weight):
        raise ValueError("failed this time")

    monkeypatch.setattr(CountModel, "_fit", failing)
    _run(bench_data, tmp_path, ["bench_count"], seeds=[0], max_settings=0)
    monkeypatch.undo()
    SEEN.clear()
    result, _ = _run(bench_data, tmp_path, ["bench_count"], seeds=[0], max_settings=0)
    assert result.table.loc[0, "status"] == "failed" and SEEN == []
    result, _ = _run(bench_data, tmp_path, ["bench_count"], seeds=[0], max_settings=0,
                     retry_failed=True)
    assert result.table.loc[0, "status"] == "ok" and len(_fits()) == 1


def test_a_folder_of_other_data_or_no_benchmark_is_refused(bench_data, stand_ins, tmp_path):
    _run(bench_data, tmp_path / "run", ["bench_count"], seeds=[0], max_settings=0)
    X = EventSet.from_long(bench_data.X_train.to_long(), categorical=["Sex"])
    other = BenchmarkData.from_split(X, bench_data.y_train, test_size=0.3, random_state=1)
    with pytest.raises(ValueError, match="holds a benchmark of other data"):
        _run(other, tmp_path / "run", ["bench_count"], seeds=[0], max_settings=0)
    with pytest.raises(ValueError, match=r"another inner_valid \(0.2 there, 0.3 now\)"):
        _run(bench_data, tmp_path / "run", ["bench_count"], seeds=[0], inner_valid=0.3)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no benchmark"):
        _run(bench_data, tmp_path / "mine", ["bench_count"], seeds=[0])


def test_workers_fit_side_by_side_with_one_thread_each(bench_data, stand_ins, tmp_path,
                                                       monkeypatch):
    monkeypatch.setenv("BENCH_SLEEP", "0.5")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the workers must not inherit it
    result, _ = _run(bench_data, tmp_path, ["bench_checked", "bench_slow"], seeds=[0],
                     max_settings=0, in_process=False, jobs=2)
    table = result.table.set_index("model")
    assert table["status"].tolist() == ["ok", "ok"], table["error"].tolist()
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/fit-*.json")]
    assert {r["model"] for r in records} == {"bench_checked", "bench_slow"}
    assert {r["pid"] for r in records}.isdisjoint({os.getpid()}) and len({r["pid"] for r in records}) == 2
    first, second = sorted(records, key=lambda r: r["started"])
    assert second["started"] < first["finished"]  # side by side
    for r in records:
        assert r["thread_parameters"] == ["n_jobs"] and r["torch_threads"] == 1
        assert set(r["native_threads"].values()) == {1}
        assert r["peak_scope"] == "fit and predict" and r["peak_rss_mb"] >= r["rss_before_mb"] > 0
    assert os.environ["OMP_NUM_THREADS"] == "2"  # this process's environment is as it was
    assert not (tmp_path / ".cache").exists()


@pytest.mark.slow
def test_a_dying_worker_fails_its_model_and_the_rest_go_on(bench_data, stand_ins, tmp_path):
    result, lines = _run(bench_data, tmp_path, ["bench_dying", "bench_count"], seeds=[0],
                         max_settings=0, in_process=False, jobs=2)
    table = result.table.set_index("model")
    assert table.loc["bench_count", "status"] == "ok"
    assert table.loc["bench_dying", "status"] == "failed"
    assert "worker process died" in table.loc["bench_dying", "error"]
    assert any("each runs again, alone" in line for line in lines)


@pytest.mark.slow
def test_a_killed_benchmark_command_resumes_without_refitting(tmp_path):
    """SIGKILL to the whole process group of `medfuse benchmark` midway (workers too), then the
    same command again: finished fits are kept, the rest are fitted, and the table is that of
    an uninterrupted run."""
    from bench_models import synthetic_cohort

    events, labels = synthetic_cohort()
    events.to_csv(tmp_path / "events.csv", index=False)
    labels.rename_axis("stay_id").reset_index().to_csv(tmp_path / "labels.csv", index=False)
    env = {**os.environ, "BENCH_SLEEP": "1.5",
           "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)])}
    script = ("import sys, bench_models; bench_models.register_models(); "
              "from medfuse_sk.cli import main; sys.exit(main(sys.argv[1:]))")

    def command(out, jobs="2"):
        return [sys.executable, "-c", script, "benchmark", str(tmp_path / "events.csv"),
                str(tmp_path / "labels.csv"), "--categorical", "Sex", "--models", "bench_slow",
                "--seeds", "0", "1", "2", "3", "--max-settings", "0", "--jobs", jobs,
                "--n-bootstrap", "100", "--out", str(out)]

    out = tmp_path / "run"
    process = subprocess.Popen(command(out), env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs = out / "runs" / "bench_slow"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(runs.glob("fit-*.json"))) < 2:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = {p.name: p.read_text() for p in runs.glob("fit-*.json")}
    assert 2 <= len(done) < 4, done
    resumed = subprocess.run(command(out), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{4 - len(done)} fit(s) to run, {len(done)} already done" in resumed.stderr
    for name, text in done.items():
        assert (runs / name).read_text() == text  # not refitted
    whole = subprocess.run(command(tmp_path / "whole", jobs="0"), env=env, capture_output=True,
                           text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    np.testing.assert_array_equal(
        pd.read_csv(out / "predictions" / "bench_slow.csv"),
        pd.read_csv(tmp_path / "whole" / "predictions" / "bench_slow.csv"))
    mine = pd.read_csv(out / "table.csv")
    theirs = pd.read_csv(tmp_path / "whole" / "table.csv")
    for column in ("auprc_mean", "auprc_sd", "auprc_ci_low", "auprc_ci_high", "auroc_mean", "brier",
                   "ece", "seeds_ok"):
        assert mine[column].item() == theirs[column].item(), column


def test_a_fit_past_the_time_limit_fails_its_row_and_the_rest_go_on(bench_data, stand_ins,
                                                                     tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_SLEEP", "5")
    began = time.perf_counter()
    result, _ = _run(bench_data, tmp_path, ["bench_slow", "bench_count"], seeds=[0],
                     max_settings=0, time_limit=0.5)
    assert time.perf_counter() - began < 4  # the 5 s sleep was cut short
    table = result.table.set_index("model")
    assert table.loc["bench_count", "status"] == "ok"
    assert table.loc["bench_slow", "status"] == "failed"
    assert "FitTimeLimit in fit: ran past the time limit of 0.5 s" in table.loc["bench_slow",
                                                                                 "error"]
    monkeypatch.setenv("BENCH_SLEEP", "0")
    result, _ = _run(bench_data, tmp_path, ["bench_slow", "bench_count"], seeds=[0],
                     max_settings=0, retry_failed=True, time_limit=60)
    assert (result.table["status"] == "ok").all()
    with pytest.raises(ValueError, match="time_limit must be a positive"):
        _run(bench_data, tmp_path, ["bench_count"], seeds=[0], time_limit=0)


def test_pinned_parameters_reach_every_fit_and_are_fits_of_their_own(bench_data, stand_ins, grid,
                                                                        tmp_path):
    _run(bench_data, tmp_path, ["bench_count"], seeds=[1])
    SEEN.clear()
    result, lines = _run(bench_data, tmp_path, ["bench_count"], seeds=[1],
                         pinned={"bench_count": {"count_feature": "HR"}})
    plan = result.plans["bench_count"]
    assert len(_fits()) == 5  # the unpinned run's files are not the pinned fits'
    assert [s.get("C") for s in plan.settings] == [None, 0.001, 0.01, 100.0]
    assert all(s["count_feature"] == "HR" for s in plan.settings)
    # the predictions are those of the chosen setting, pinned, fitted by hand
    predictions = pd.read_csv(tmp_path / "predictions" / "bench_count.csv")
    by_hand = make_count(random_state=1, **plan.chosen).fit(bench_data.X_train, bench_data.y_train)
    assert plan.chosen["count_feature"] == "HR"
    np.testing.assert_allclose(predictions["proba"],
                               by_hand.predict_proba(bench_data.X_eval)[:, 1], rtol=0, atol=1e-12)
    table = pd.read_csv(tmp_path / "table.csv").set_index("model")
    assert table.loc["bench_count", "auroc_mean"] < 0.7  # HR carries no signal
    assert table.loc["bench_count", "setting"].endswith("; pinned count_feature='HR'")
    protocol = json.loads((tmp_path / "protocol.json").read_text())
    assert protocol["models"]["bench_count"]["pinned"] == {"count_feature": "HR"}


def test_a_pin_of_a_fixed_model_reaches_its_fits_and_a_bad_pin_fails_before_any_fit(
        bench_data, stand_ins, tmp_path):
    SEEN.clear()
    result, _ = _run(bench_data, tmp_path / "a", ["bench_count"], seeds=[0], max_settings=0,
                     pinned={"bench_count": {"C": 0.001}})
    assert result.plans["bench_count"].chosen == {"C": 0.001} and len(_fits()) == 1
    fitted = make_count(random_state=0, C=0.001).fit(bench_data.X_train, bench_data.y_train)
    predictions = pd.read_csv(tmp_path / "a" / "predictions" / "bench_count.csv")
    np.testing.assert_allclose(predictions["proba"],
                               fitted.predict_proba(bench_data.X_eval)[:, 1], rtol=0, atol=1e-12)
    SEEN.clear()
    with pytest.raises(ValueError, match="pinned parameter 'CC' of bench_count: CountModel has "
                                         "no such parameter; did you mean 'C'"):
        _run(bench_data, tmp_path / "b", ["bench_count"], pinned={"bench_count": {"CC": 1}})
    with pytest.raises(ValueError, match="pinned parameters for xgboost, which this run does "
                                         "not fit"):
        _run(bench_data, tmp_path / "b", ["bench_count"], pinned={"xgboost": {"max_depth": 2}})
    assert SEEN == [] and not (tmp_path / "b").exists()
