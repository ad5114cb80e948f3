"""Reading a MEDS dataset and a task: windows, static rows, kinds of values, splits, vocabulary,
sample ids, the cohort registry, parallel shards — checked against an independent per-sample
reference (meds_toy.reference) and the standard's rules."""

import numpy as np
import pandas as pd
import pytest
from meds_toy import canonical, random_dataset, read_back, reference, with_vocabulary, write_dataset

from medfuse_sk.data import EventSet, EventTokenizer, event_order_moves
from medfuse_sk.datasets import load_cohort
from medfuse_sk.datasets.meds import (
    OTHER_CLASS,
    UNKNOWN_FEATURE,
    MEDSCohort,
    MEDSVocabulary,
    load_meds,
)


@pytest.mark.parametrize("lookback", [None, 12.0])
def test_every_sample_holds_what_a_per_sample_reference_holds(random_meds, lookback):
    data, task, rows, labels, splits = random_meds
    cohort = load_meds(data, task, split="all", lookback=lookback)
    got = canonical(read_back(cohort))
    train_subjects = [s for s, v in splits.items() if v == "train"]
    expected = canonical(with_vocabulary(reference(rows, labels, lookback_hours=lookback,
                                                   train_subjects=train_subjects),
                                         cohort.vocabulary))
    assert len(got) == len(expected) > 700
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-6)
    assert (cohort.to_event_set().columns["time"] >= 0).all()
    assert cohort.report["n_events"] == len(expected)


def test_windows_include_both_ends(random_meds):
    data, task, rows, labels, _ = random_meds
    cohort = load_meds(data, task, split="all", lookback="12h")
    X = cohort.to_event_set()
    assert X.columns["time"].min() >= 0 and X.columns["time"].max() <= 12.0
    timed = rows[rows["time"].notna()][["subject_id", "time"]]
    samples = cohort.samples.reset_index()
    # each subject has a sample with an event exactly at its prediction time (kept, at 12 h)
    # and one with an event exactly at the start of its window (kept, at 0 h)
    at_end = samples.merge(timed, left_on=["subject_id", "prediction_time"],
                           right_on=["subject_id", "time"])["stay_id"].unique()
    at_start = samples.assign(start=samples["prediction_time"] - pd.Timedelta(hours=12)).merge(
        timed, left_on=["subject_id", "start"], right_on=["subject_id", "time"])["stay_id"].unique()
    assert len(at_end) == len(at_start) == samples["subject_id"].nunique()
    owner = X.stay_ids[X.row_stay_index()]
    static = np.isin(X.feature_names[X.columns["feature"]], ["HEIGHT", "MEDS_BIRTH", "SEX//F",
                                                            "SEX//M"])
    assert set(at_end) <= set(owner[X.columns["time"] == 12.0])
    assert set(at_start) <= set(owner[(X.columns["time"] == 0.0) & ~static])


def test_static_rows_at_time_zero_and_birth_as_age(static_task):
    data, task = static_task
    cohort = load_meds(data, task, split="train")
    long = cohort.to_event_set().to_long()
    first = cohort.samples.iloc[0]
    mine = long[long["stay_id"] == cohort.stay_ids[0]]
    height = mine[mine["feature"] == "HEIGHT"]
    assert len(height) == 1 and height["time"].iloc[0] == 0.0
    age = mine.loc[mine["feature"] == "MEDS_BIRTH", "value"].iloc[0]
    # subject 68729, born 1978-03-09, first prediction 2010-05-26 03:00
    expected = (first["prediction_time"] - pd.Timestamp("1978-03-09")) / pd.Timedelta(days=365.25)
    assert age == pytest.approx(expected, rel=1e-6)
    assert "EYE_COLOR//HAZEL" in set(mine["feature"])
    # discharge codes are excluded by default, and counted
    assert "DISCHARGE" not in set(long["feature"]) and cohort.report["excluded"]["DISCHARGE"] > 0


def test_numbers_text_and_bare_rows_of_one_code_keep_every_kind(random_meds):
    data, task, *_ = random_meds
    cohort = load_meds(data, task, split="train")
    names = set(cohort.vocabulary.names)
    assert {"HR", "HR//text", "HR//present"} <= names
    assert "HR//text" in cohort.categorical and "HR" not in cohort.categorical
    X = cohort.to_event_set()
    f = X.feature_names[X.columns["feature"]]
    assert np.isnan(X.columns["value"][f == "HR//text"]).all()
    assert (X.columns["category"][f == "HR//text"] >= 0).all()
    assert (X.columns["value"][f == "HR//present"] == 1.0).all()
    assert set(X.categories[X.columns["category"][f == "HR//text"]]) == {"pos", "neg", "trace"}


def test_splits_never_straddle_and_val_test_mean_tuning_held_out(random_meds):
    data, task, rows, labels, splits = random_meds
    parts = {word: load_meds(data, task, split=word) for word in ("train", "val", "test")}
    assert parts["val"].split == ("val",) and parts["test"].split == ("test",)
    subjects = {k: set(c.samples["subject_id"]) for k, c in parts.items()}
    assert not subjects["train"] & subjects["val"] and not subjects["val"] & subjects["test"]
    for word, meds_word in (("train", "train"), ("val", "tuning"), ("test", "held_out")):
        assert subjects[word] == {s for s, v in splits.items() if v == meds_word}
        assert len(parts[word]) == labels["subject_id"].isin(subjects[word]).sum()
    same = load_meds(data, task, split="held_out")
    assert same.stay_ids.tolist() == parts["test"].stay_ids.tolist()
    # sample ids: positions in the whole task, the same whichever split is read
    everything = load_meds(data, task, split="all")
    assert set(everything.stay_ids) == set().union(*(set(c.stay_ids) for c in parts.values()))
    assert everything.report["sample_ids"] == "index"


def test_the_vocabulary_is_fitted_on_the_training_split_only(random_meds, tmp_path):
    from meds_toy import write_dataset

    data, task, rows, labels, splits = random_meds
    held = [s for s, v in splits.items() if v == "held_out"]
    extra = rows[rows["subject_id"].isin(held) & rows["time"].notna()].copy()
    extra["code"], extra["numeric_value"], extra["text_value"] = "ONLY_HELD_OUT", 1.0, None
    texts = rows[rows["subject_id"].isin(held) & rows["text_value"].notna()].copy()
    texts["text_value"] = "never in train"
    data2, task2 = write_dataset(tmp_path, pd.concat([rows, extra, texts]), labels, splits)
    train = load_meds(data2, task2, split="train")
    assert "ONLY_HELD_OUT" not in train.vocabulary.names
    test = load_meds(data2, task2, split="test")  # fits on train itself
    assert test.vocabulary.names == train.vocabulary.names
    X = test.to_event_set()
    f = X.feature_names[X.columns["feature"]]
    assert (f == UNKNOWN_FEATURE).sum() == test.report["n_unknown_events"] > 0
    classes = X.categories[X.columns["category"][X.columns["category"] >= 0]]
    assert OTHER_CLASS in set(classes) and "never in train" not in set(classes)
    # the same with the training cohort's vocabulary handed over (what a model folder keeps)
    again = load_meds(data2, task2, split="test", vocabulary=train.vocabulary.to_dict())
    np.testing.assert_array_equal(again.to_event_set().columns["feature"], X.columns["feature"])
    # a tokenizer fitted on the training samples, none of them <unknown>, cannot give those
    # held-out rows a token: it says how many it leaves out rather than dropping them silently
    assert train.report["n_unknown_events"] == 0
    tokenizer = EventTokenizer().fit(train.to_event_set())
    n = test.report["n_unknown_events"]
    with pytest.warns(UserWarning, match=rf"ignored {n} events of 1 feature\(s\) not seen in fit: "
                                         f"'{UNKNOWN_FEATURE}'"):
        tokens = tokenizer.transform(X)
    assert tokens.n_rows == X.n_rows - n
    # without an unknown bucket the rows are dropped, and counted
    dropped = load_meds(data2, task2, split="test", unknown=False)
    assert dropped.report["n_unknown_dropped"] == test.report["n_unknown_events"]
    assert dropped.report["n_events"] == test.report["n_events"] - test.report["n_unknown_events"]


def test_min_count_and_max_features(random_meds):
    data, task, *_ = random_meds
    full = load_meds(data, task, split="train")
    counts = {f["name"]: f["count"] for f in full.vocabulary.features}
    threshold = sorted(counts.values())[3]
    rare = {n for n, c in counts.items() if c < threshold}
    cut = load_meds(data, task, split="train", min_count=threshold)
    assert set(cut.vocabulary.names) == (set(counts) - rare) | {UNKNOWN_FEATURE}
    assert cut.report["n_unknown_events"] == sum(counts[n] for n in rare)
    top = load_meds(data, task, split="train", max_features=2)
    best = sorted(counts, key=lambda n: (-counts[n], n))[:2]
    assert top.vocabulary.names == [*best, UNKNOWN_FEATURE]
    with pytest.raises(ValueError, match="min_count"):
        MEDSVocabulary(min_count=0)


def test_sample_ids_are_subjects_when_each_has_one_prediction_time(static_task, tmp_path):
    from meds_toy import random_dataset, write_dataset

    rows, labels, splits = random_dataset(n_subjects=12, seed=3, predictions_per_subject=1)
    data, task = write_dataset(tmp_path, rows, labels, splits)
    cohort = load_meds(data, task, split="all")
    assert cohort.report["sample_ids"] == "subject"
    assert sorted(cohort.stay_ids.tolist()) == sorted(labels["subject_id"].tolist())
    with pytest.raises(ValueError, match="one prediction time per subject"):
        load_meds(*static_task, split="all", sample_ids="subject")


def test_samples_without_data_before_them_are_kept_and_counted(random_meds):
    data, task, rows, labels, _ = random_meds
    timed = rows[rows["time"].notna() & (rows["code"] != "MEDS_BIRTH")]
    pairs = labels.merge(timed[["subject_id", "time"]], on="subject_id")
    inside = pairs[(pairs["time"] <= pairs["prediction_time"])
                   & (pairs["time"] >= pairs["prediction_time"] - pd.Timedelta(hours=0.5))]
    none_in_window = len(labels) - len(inside.groupby(["subject_id", "prediction_time"]))
    assert none_in_window > 0
    cohort = load_meds(data, task, split="all", lookback=0.5)
    assert cohort.report["n_samples_without_events"] == 0  # static rows and age come always
    # with no static rows, such samples are empty, kept and counted
    bare = load_meds(data, task, split="all", lookback=0.5, exclude=("SEX", "HEIGHT", "BIRTH"))
    assert len(bare) == len(labels)
    assert bare.report["n_samples_without_events"] == none_in_window
    assert (bare.to_event_set().lengths == 0).sum() == none_in_window
    assert len(bare.report["samples_without_events"]) == min(10, none_in_window)


def test_the_registry_reads_meds_like_any_cohort(random_meds, monkeypatch):
    data, task, *_ = random_meds
    cohort = load_cohort("meds", split="tuning", data_dir=data, task_dir=task, lookback=24)
    direct = load_meds(data, task, split="tuning", lookback=24)
    assert isinstance(cohort, MEDSCohort) and cohort.split == ("val",)
    assert cohort.stay_ids.tolist() == direct.stay_ids.tolist()
    monkeypatch.setenv("MEDFUSE_MEDS_DIR", str(data))
    monkeypatch.setenv("MEDFUSE_MEDS_TASK", str(task))
    assert len(load_cohort("meds", split="val")) == len(direct)
    monkeypatch.delenv("MEDFUSE_MEDS_TASK")
    with pytest.raises(FileNotFoundError, match="task_dir"):
        load_cohort("meds", split="val")


def test_register_meds_cohort_gives_a_dataset_a_name(random_meds):
    from medfuse_sk.datasets import register_meds_cohort, unregister_cohort

    data, task, *_ = random_meds
    register_meds_cohort("toy_meds_task", data, task, lookback=12, task="toy labels")
    try:
        cohort = load_cohort("toy_meds_task", split="test")
        assert cohort.report["lookback_hours"] == 12
        assert len(cohort) == len(load_meds(data, task, split="test"))
    finally:
        unregister_cohort("toy_meds_task")


def test_events_long_table_and_repr(random_meds):
    data, task, *_ = random_meds
    cohort = load_meds(data, task, split="test")
    assert "events=" in repr(cohort) and cohort.__dict__["_events"] is None  # repr builds none
    assert len(cohort.events) == cohort.report["n_events"]
    assert list(cohort.events.columns) == ["stay_id", "time", "feature", "value"]
    assert "samples have no events" in cohort.summary()


def _tied_meds(root):
    """A dataset whose events share their hour: runs of several codes at one time, static rows
    and events at a window's start at time 0 alike."""
    rows, labels, splits = random_dataset(n_subjects=24, seed=3, codes=("HR", "NA", "LAB//X", "K", "CL"))
    rows["time"] = rows["time"].dt.floor("h")
    labels = labels.assign(prediction_time=labels["prediction_time"].dt.floor("h")).drop_duplicates(
        ["subject_id", "prediction_time"])
    return write_dataset(root, rows, labels, splits)


@pytest.mark.parametrize("lookback", [None, 6.0])
@pytest.mark.parametrize("dataset", ["random", "tied"])
def test_events_come_in_the_order_from_long_gives(random_meds, tmp_path, dataset, lookback):
    """Within a sample, rows by time, then feature id — EventSet.from_long's order — not by
    code as in the shards: the tokenizer's tie sort finds nothing to do. The same events read
    back through from_long (features first seen in the vocabulary's order, so that both number
    them alike) come out in the same order."""
    data, task = random_meds[:2] if dataset == "random" else _tied_meds(tmp_path)
    X = load_meds(data, task, split="all", lookback=lookback).to_event_set()
    stay = X.row_stay_index()
    tied = (stay[1:] == stay[:-1]) & (X.columns["time"][1:] == X.columns["time"][:-1])
    codes = X.feature_names[X.columns["feature"]]
    assert (codes[1:][tied] != codes[:-1][tied]).sum() > 50  # several codes share a time
    assert event_order_moves(stay, X.columns["time"], X.columns["feature"]) is None

    long = X.to_long()
    shuffled = long.sample(frac=1, random_state=0)
    first_seen = shuffled.iloc[np.argsort(X.columns["feature"][shuffled.index], kind="stable")]
    Y = EventSet.from_long(first_seen, stays=X.stay_ids, categorical=X.categorical_features,
                           duplicates="raise")
    np.testing.assert_array_equal(Y.offsets, X.offsets)
    np.testing.assert_array_equal(Y.columns["time"], X.columns["time"])
    np.testing.assert_array_equal(Y.feature_names[Y.columns["feature"]], codes)
    # rows of one feature at one time: the same rows (from_long orders them by value)
    back = Y.to_long()
    for table in (long, back):
        table["value"] = table["value"].astype(str)
    pd.testing.assert_frame_equal(
        back.sort_values(list(back.columns), kind="stable", ignore_index=True),
        long.sort_values(list(long.columns), kind="stable", ignore_index=True))


def _same_events(a, b):
    for name in ("time", "feature", "value", "category"):
        np.testing.assert_array_equal(a.to_event_set().columns[name], b.to_event_set().columns[name])
    np.testing.assert_array_equal(a.to_event_set().offsets, b.to_event_set().offsets)
    np.testing.assert_array_equal(a.stay_ids, b.stay_ids)
    assert a.vocabulary.names == b.vocabulary.names


@pytest.mark.slow  # starting worker processes imports torch in each: about 10 s here
def test_shards_prepared_in_processes_give_the_same_events(random_meds):
    data, task, *_ = random_meds
    _same_events(load_meds(data, task, split="all", lookback=24),
                 load_meds(data, task, split="all", lookback=24, n_jobs=2))


@pytest.mark.slow  # a 2-worker Dask cluster starts in about 10 s here
def test_shards_prepared_on_a_dask_cluster_give_the_same_events(random_meds):
    distributed = pytest.importorskip("distributed")
    import joblib

    data, task, *_ = random_meds
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, distributed.get_task_stream(client) as tasks:
        remote = load_meds(data, task, split="all", lookback=24, client=client)
        with joblib.parallel_backend("dask"):  # the way the library's searches use Dask
            through_joblib = load_meds(data, task, split="all", lookback=24, n_jobs=2)
    assert sum("prepare_shard" in str(t["key"]) for t in tasks.data) >= 2  # a task per shard
    local = load_meds(data, task, split="all", lookback=24)
    _same_events(local, remote)
    _same_events(local, through_joblib)


def test_a_subject_whose_rows_are_all_excluded_is_an_empty_sample(random_meds):
    data, task, rows, labels, _ = random_meds
    cohort = load_meds(data, task, split="test", exclude=(".",))
    assert cohort.report["n_events"] == 0 and len(cohort) > 0
    assert cohort.report["n_samples_without_events"] == len(cohort)
    assert cohort.report["n_excluded_rows"] > 0


def test_generated_meds_dataset_matches_the_reference(generated_meds, tmp_path):
    """meds-testing-helpers' generator (build_sample_MEDS_dataset): our own task on its data."""
    import pyarrow.parquet as pq
    from meds_toy import write_labels

    root = generated_meds
    rows = pd.concat([pq.read_table(p).to_pandas() for p in sorted((root / "data").rglob(
        "*.parquet"))], ignore_index=True)
    if "text_value" not in rows:
        rows["text_value"] = None
    timed = rows[rows["time"].notna()]
    rng = np.random.default_rng(0)
    picks = timed.groupby("subject_id").sample(1, random_state=0).head(60)
    labels = pd.DataFrame({"subject_id": picks["subject_id"].to_numpy(),
                           "prediction_time": picks["time"].to_numpy(),
                           "boolean_value": rng.random(len(picks)) < 0.3})
    write_labels(tmp_path / "task" / "labels.parquet", labels)
    cohort = load_meds(root, tmp_path / "task", split="all", lookback=24 * 365)
    got = canonical(read_back(cohort))
    splits = pq.read_table(root / "metadata" / "subject_splits.parquet").to_pandas()
    train_subjects = splits.loc[splits["split"] == "train", "subject_id"]
    expected = canonical(with_vocabulary(reference(rows, labels, lookback_hours=24 * 365,
                                                   train_subjects=train_subjects),
                                         cohort.vocabulary))
    assert len(got) == len(expected) > 100
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-6)
