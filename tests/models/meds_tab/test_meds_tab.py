"""The meds_tab model's parts that need no meds-tab virtualenv: the command lines, the staged
MEDS data (only the samples it is given), the alignment of predictions to samples, the split of
subjects, the environment's folder and the errors. The real pipeline, in a virtualenv built
for it, is tests/models/meds_tab/test_meds_tab_venv.py (slow)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.base import clone

from medfuse_sk.data import EventSet
from medfuse_sk.models import create_model
from medfuse_sk.models.meds_tab import (
    ENV_VARIABLE,
    MEDSTabClassifier,
    MEDSTabEnvironment,
    MEDSTabError,
    ensure_environment,
    environment_dir,
)
from medfuse_sk.models.meds_tab import _estimator as estimator
from medfuse_sk.models.meds_tab._environment import MARKER, REQUIREMENTS, run_step
from medfuse_sk.models.meds_tab._estimator import (
    _Layout,
    align_predictions,
    pipeline_commands,
    split_subjects,
)
from medfuse_sk.models.meds_tab._runner import CONSTANT_CODE

T0 = pd.Timestamp("2021-03-01")
DATA_SCHEMA = pa.schema([("subject_id", pa.int64()), ("time", pa.timestamp("us")),
                         ("code", pa.string()), ("numeric_value", pa.float32()),
                         ("text_value", pa.large_string())])


def _tiny_meds(root: Path) -> tuple[Path, Path]:
    """16 subjects in two shards: HR numbers, a text code, a death row (excluded when read),
    static rows for even subjects only; one prediction time each; 12 train, 4 tuning."""
    rows = []
    for s in range(1, 17):
        if s % 2 == 0:
            rows.append((s, None, "SEX//F", None, None))
        for h in range(6):
            rows.append((s, T0 + pd.Timedelta(hours=s + h), "HR", float(60 + s + h), None))
        rows.append((s, T0 + pd.Timedelta(hours=s + 2), "NOTE", None, "ok"))
        rows.append((s, T0 + pd.Timedelta(hours=s + 5), "MEDS_DEATH", None, None))
    frame = pd.DataFrame(rows, columns=DATA_SCHEMA.names)
    for k in range(2):
        part = frame[frame["subject_id"] % 2 == k]
        path = root / "data" / f"shard_{k}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(part, schema=DATA_SCHEMA, preserve_index=False), path)
    (root / "metadata").mkdir()
    subjects = list(range(1, 17))
    pq.write_table(pa.table({"subject_id": pa.array(subjects, pa.int64()),
                             "split": pa.array(["train"] * 12 + ["tuning"] * 4, pa.string())}),
                   root / "metadata" / "subject_splits.parquet")
    task = root / "task"
    task.mkdir()
    labels = pd.DataFrame({"subject_id": subjects,
                           "prediction_time": [T0 + pd.Timedelta(hours=s + 3) for s in subjects],
                           "boolean_value": [s % 3 == 0 for s in subjects]})
    pq.write_table(pa.Table.from_pandas(labels, preserve_index=False, schema=pa.schema(
        [("subject_id", pa.int64()), ("prediction_time", pa.timestamp("us")),
         ("boolean_value", pa.bool_())])), task / "0.parquet")
    return root, task


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from medfuse_sk.datasets.meds import load_meds

    data, task = _tiny_meds(tmp_path_factory.mktemp("meds_tab"))
    cohort = load_meds(data, task, split=["train", "tuning"])
    return cohort


def _env(tmp_path) -> MEDSTabEnvironment:
    return MEDSTabEnvironment(tmp_path / "venv")


def test_the_commands_of_a_fit_and_of_a_prediction(tmp_path):
    env, layout = _env(tmp_path), _Layout(tmp_path / "work")
    model = MEDSTabClassifier(min_code_inclusion_count=3, window_sizes=("1d", "full"),
                              aggs=("static/present", "code/count", "value/max"), eta=0.1,
                              n_jobs=2)
    commands = pipeline_commands(env, layout, model._params(), seed=7, fitting=True)
    names = [name for name, _ in commands]
    assert names == ["meds-tab-describe", "meds-tab-tabularize-static",
                     "meds-tab-tabularize-time-series", "meds-tab-xgboost"]
    bin_ = tmp_path / "venv" / "bin"
    w = tmp_path / "work"
    assert commands[0][1] == [f"{bin_}/meds-tab-describe", f"input_dir={w}/data",
                              f"output_dir={w}/output"]
    tabularize = [f"input_dir={w}/data", f"output_dir={w}/output", f"input_label_dir={w}/labels",
                  "tabularization.min_code_inclusion_count=3",
                  "tabularization.window_sizes=[1d,full]",
                  "tabularization.aggs=[static/present,code/count,value/max]"]
    assert commands[1][1] == [f"{bin_}/meds-tab-tabularize-static", *tabularize]
    assert commands[2][1] == [f"{bin_}/meds-tab-tabularize-time-series", *tabularize]
    assert commands[3][1] == [
        f"{bin_}/meds-tab-xgboost", f"input_dir={w}/data", f"output_dir={w}/output",
        f"output_model_dir={w}/model", "task_name=task",
        f"input_tabularized_cache_dir={w}/output/tabularize", f"input_label_cache_dir={w}/labels",
        "tabularization.window_sizes=[1d,full]",
        "tabularization.aggs=[static/present,code/count,value/max]",
        "tabularization.min_code_inclusion_count=3",
        "model_launcher.model.nthread=2", "+model_launcher.model.seed=7",
        "model_launcher.training_params.num_boost_round=1000",
        "model_launcher.training_params.early_stopping_rounds=5",
        "+model_launcher.model.eta=0.1"]
    # a prediction tabularizes with the fit's code list: no describe, no training
    predict = pipeline_commands(env, layout, model._params(), seed=7, fitting=False)
    assert [n for n, _ in predict] == names[1:3] and predict[0][1] == commands[1][1]
    # meds-tab's own sweep: --multirun, its sampler seeded, one trial at a time
    sweep = pipeline_commands(env, layout, MEDSTabClassifier(n_trials=6)._params(), seed=3,
                              fitting=True)[-1][1]
    assert sweep[1] == "--multirun"
    assert {"hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=1", "hydra.launcher.n_jobs=1",
            "hydra.sweeper.sampler.seed=3", "+model_launcher.model.seed=3"} <= set(sweep)
    assert "tabularization.min_code_inclusion_count=10" in sweep  # fixed: out of the space
    assert not [a for a in sweep if a.startswith(("model_launcher.training_params",
                                                  "+model_launcher.model.eta"))]


def test_parameters_are_checked_and_the_estimator_clones(tiny):
    model = create_model("meds_tab", random_state=5, eta=0.2)
    assert isinstance(model, MEDSTabClassifier) and model.random_state == 5
    twin = clone(model)
    assert twin.get_params() == model.get_params() and twin is not model
    twin.set_params(max_depth=4)
    assert twin.max_depth == 4 and model.max_depth is None
    assert pickle.loads(pickle.dumps(model)).get_params() == model.get_params()
    X, y = tiny.event_set, tiny.labels
    for params, needle in [({"n_trials": 0}, "n_trials must be an integer >= 1"),
                           ({"n_trials": 4, "eta": 0.1}, "runs meds-tab's own sweep, which sets eta"),
                           ({"eta": 2.0}, "eta must lie in (0, 1]"),
                           ({"tuning_size": 1.0}, "tuning_size must lie in (0, 1)"),
                           ({"aggs": ("code/mean",)}, "unknown meds-tab aggregation(s) ['code/mean']"),
                           ({"aggs": ("static/present",)}, "are all static"),
                           ({"window_sizes": ()}, "window_sizes must be a non-empty list"),
                           ({"n_jobs": 0}, "n_jobs must be an integer >= 1")]:
        with pytest.raises(ValueError, match=None) as caught:
            MEDSTabClassifier(**params).fit(X, y)
        assert needle in str(caught.value), (params, str(caught.value))


def test_only_meds_input_and_no_weights(tiny, monkeypatch):
    def no_environment(*_a, **_k):
        raise AssertionError("the environment must not be built for input it refuses")

    monkeypatch.setattr(estimator, "ensure_environment", no_environment)
    long = tiny.event_set.to_long()
    plain = EventSet.from_long(long)
    for X in (long, plain):
        with pytest.raises(TypeError, match="meds_tab runs on MEDS input only") as caught:
            MEDSTabClassifier().fit(X, tiny.labels)
        assert "EventSet.info['meds']" in str(caught.value)
    with pytest.raises(ValueError, match="takes no sample_weight"):
        MEDSTabClassifier().fit(tiny.event_set, tiny.labels,
                                sample_weight=np.ones(len(tiny.labels)))


def test_predictions_are_aligned_to_the_samples_by_subject_and_time():
    samples = pd.DataFrame({"subject_id": [3, 1, 2, 1],
                            "prediction_time": pd.to_datetime(["2021-01-03", "2021-01-01",
                                                               "2021-01-02", "2021-01-05"])})
    predictions = pd.DataFrame({  # meds-tab's order, its own time resolution
        "subject_id": np.array([1, 1, 2, 3], dtype=np.int32),
        "prediction_time": pd.to_datetime(["2021-01-01", "2021-01-05", "2021-01-02",
                                           "2021-01-03"]).astype("datetime64[ns]"),
        "predicted_boolean_probability": [0.1, 0.5, 0.2, 0.3]})
    assert align_predictions(samples, predictions).tolist() == [0.3, 0.1, 0.2, 0.5]
    twice = pd.concat([samples.iloc[[1]], samples])  # a sample given twice: the same answer
    assert align_predictions(twice, predictions).tolist() == [0.1, 0.3, 0.1, 0.2, 0.5]
    with pytest.raises(MEDSTabError, match=r"no prediction for 1 of 4 sample\(s\), e.g. subject 2 at"):
        align_predictions(samples, predictions[predictions["subject_id"] != 2])
    with pytest.raises(MEDSTabError, match="predicted 1 sample"):
        align_predictions(samples, pd.concat([predictions, predictions.iloc[[0]]]))


def test_the_tuning_subjects_are_drawn_within_each_class_and_never_shared():
    rng = np.random.default_rng(0)
    subjects = np.repeat(np.arange(200), 2)  # two samples per subject
    labels = rng.random(400) < 0.2
    mask = split_subjects(subjects, labels, 0.1, seed=1)
    assert not set(subjects[mask]) & set(subjects[~mask])  # no subject on both sides
    tuning = np.unique(subjects[mask])
    positive = {s for s, lab in zip(subjects, labels) if lab}
    assert 15 <= len(tuning) <= 25
    assert {s in positive for s in tuning} == {True, False}  # both classes
    assert np.array_equal(mask, split_subjects(subjects, labels, 0.1, seed=1))
    assert not np.array_equal(mask, split_subjects(subjects, labels, 0.1, seed=2))
    with pytest.raises(ValueError, match="cannot be split"):
        split_subjects(np.array([1]), np.array([True]), 0.1, seed=0)


def test_a_failing_step_names_its_command_and_the_end_of_its_output():
    script = "import sys\nfor i in range(40): print(f'line {i}', file=sys.stderr)\nsys.exit(3)"
    with pytest.raises(MEDSTabError) as caught:
        run_step("meds-tab-describe", [sys.executable, "-c", script])
    message = str(caught.value)
    assert message.startswith("meds_tab: meds-tab-describe failed (exit status 3): ")
    assert "line 39" in message and "line 15" in message and "line 14" not in message
    with pytest.raises(MEDSTabError, match="could not start"):
        run_step("meds-tab-xgboost", ["/no/such/meds-tab-xgboost"])
    lines = []
    run_step("echo", [sys.executable, "-c", "pass"], progress=lines.append)
    assert lines and lines[0].startswith("meds_tab: echo done (")


def test_the_environment_folder_and_what_may_be_in_it(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    monkeypatch.setenv("MEDFUSE_CACHE", str(tmp_path / "cache"))
    assert environment_dir() == tmp_path / "cache" / "meds-tab-0.2.0"
    monkeypatch.delenv("MEDFUSE_CACHE")
    assert environment_dir() == Path.home() / ".cache" / "medfuse_sk" / "meds-tab-0.2.0"
    monkeypatch.setenv(ENV_VARIABLE, str(tmp_path / "mine"))
    assert environment_dir() == tmp_path / "mine"
    # a folder holding something else is refused, never deleted
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(MEDSTabError, match="is not a meds-tab virtualenv"):
        ensure_environment()
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    # a finished build is used as it is (its marker names the requirements)
    (tmp_path / "mine" / MARKER).write_text(json.dumps(
        {"requirements": list(REQUIREMENTS), "versions": {"meds-tab": "0.2.0"}}))
    env = ensure_environment()
    assert env.path == tmp_path / "mine" and env.versions == {"meds-tab": "0.2.0"}
    assert not env.built_now


class _HereEnvironment(MEDSTabEnvironment):
    """The runner runs in this interpreter (it has polars); meds-tab's commands are recorded."""

    @property
    def python(self) -> Path:
        return Path(sys.executable)


def test_a_fit_stages_the_training_samples_only(tiny, tmp_path, monkeypatch):
    calls = []

    def recording(name, argv, **kwargs):
        work = Path(kwargs["cwd"])
        calls.append((name, (work / "data" / "held_out").exists()))
        if argv[0] == sys.executable:  # the staging job, for real
            return run_step(name, argv, **kwargs)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(estimator, "ensure_environment",
                        lambda *_a: _HereEnvironment(tmp_path / "venv", {"meds-tab": "0.2.0"}))
    monkeypatch.setattr(estimator, "run_step", recording)
    part = tiny.stay_split.loc[tiny.event_set.stay_ids].to_numpy()
    X = tiny.event_set[np.flatnonzero(part == "train")]  # the 12 training subjects
    model = MEDSTabClassifier(random_state=0, tuning_size=0.25, work_dir=str(tmp_path / "w"),
                              keep_work=True, verbose=0)
    with pytest.raises(MEDSTabError, match="meds-tab-xgboost wrote no model"):
        model.fit(X, tiny.labels)
    # describe saw train and tuning only; held_out (a copy of tuning) came after it
    assert calls == [("staging the samples' MEDS rows", False), ("meds-tab-describe", False),
                     ("meds-tab-tabularize-static", True), ("meds-tab-tabularize-time-series", True),
                     ("meds-tab-xgboost", True)]
    (work,) = model.work_dirs_
    staged = {split: pd.read_parquet(Path(work) / "data" / split) for split in
              ("train", "tuning", "held_out")}
    labels = {split: pd.read_parquet(Path(work) / "labels" / split) for split in staged}
    train_subjects = set(tiny.samples.loc[X.stay_ids, "subject_id"])
    subjects = {split: set(frame["subject_id"]) for split, frame in staged.items()}
    assert subjects["train"] | subjects["tuning"] == train_subjects  # nothing of tuning's 13-16
    assert not subjects["train"] & subjects["tuning"] and len(subjects["tuning"]) >= 2
    assert subjects["held_out"] == subjects["tuning"]
    for split, frame in staged.items():
        assert "MEDS_DEATH" not in set(frame["code"])  # the reading's exclusion holds here too
        constant = frame[frame["code"] == CONSTANT_CODE]
        assert sorted(constant["subject_id"]) == sorted(subjects[split])  # once per subject
        assert constant["time"].isna().all() and (constant["numeric_value"] == 1).all()
        assert frame.groupby("subject_id")["time"].apply(  # static rows first
            lambda t: t.isna().astype(int).is_monotonic_decreasing).all()
        # each label row is the subject's sample, with its label from y
        got = labels[split].sort_values("subject_id").reset_index(drop=True)
        want = tiny.samples.set_index("subject_id").loc[got["subject_id"]]
        assert (got["prediction_time"].to_numpy() == want["prediction_time"].to_numpy()).all()
        assert (got["boolean_value"].to_numpy() == want["boolean_value"].to_numpy()).all()
        assert got["subject_id"].is_monotonic_increasing
    hr = staged["train"][staged["train"]["code"] == "HR"]
    assert len(hr) == 6 * len(subjects["train"])  # every HR row of the subject, as in the data
