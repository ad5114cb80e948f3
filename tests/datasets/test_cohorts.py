"""The cohort type, path resolution and the cohort registry."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medfuse_sk.data import EventSet, make_window_task
from medfuse_sk.datasets import (
    ENV_CACHE,
    Cohort,
    PhysioNet2012,
    PhysioNet2019,
    available_cohorts,
    get_cohort,
    load_cohort,
    load_physionet2012,
    load_physionet2019,
    load_physionet2019_sample,
    load_sample,
    register_cohort,
    resolve_data_dir,
    unregister_cohort,
)
from medfuse_sk.datasets.physionet2012 import _loader as p12
from medfuse_sk.datasets.physionet2019 import _loader as p19

SHARED_P12 = Path(__file__).parents[2] / ".." / "shared" / "data" / "physionet2012"
needs_p12 = pytest.mark.skipif(not (SHARED_P12 / "set-c.tar.gz").exists(),
                               reason="shared P12 data (../shared/data/physionet2012) not found")


def _same_event_sets(a: EventSet, b: EventSet) -> None:
    assert np.array_equal(a.stay_ids, b.stay_ids)
    assert np.array_equal(a.offsets, b.offsets)
    assert list(a.feature_names) == list(b.feature_names)
    assert list(a.categories) == list(b.categories)
    assert a.categorical_features == b.categorical_features
    assert a.columns.keys() == b.columns.keys()
    for name in a.columns:
        np.testing.assert_array_equal(a.columns[name], b.columns[name])


@pytest.fixture(scope="module")
def p19_sample():
    return load_physionet2019_sample()


# ----------------------------------------------------------------------------- the cohort type
def test_both_loaders_return_the_cohort_type(p19_sample):
    p12_sample = load_sample("val")
    assert isinstance(p12_sample, PhysioNet2012) and isinstance(p12_sample, Cohort)
    assert isinstance(p19_sample, PhysioNet2019) and isinstance(p19_sample, Cohort)
    assert len(p12_sample) == 500 and len(p19_sample) == 200
    assert repr(p12_sample) == (f"PhysioNet2012(split=sample-val, stays=500, positive="
                                f"{int(p12_sample.labels.sum())}, events={len(p12_sample.events)}, "
                                "missing=0)")
    assert repr(p19_sample).startswith("PhysioNet2019(split=sample, stays=200, positive=100, ")
    assert repr(p19_sample).endswith(", sets=A)")
    # the sample's stays carry the standard split they were drawn from
    train = load_sample("train")
    assert set(train.stay_split) == {"train"} and set(p12_sample.stay_split) == {"val"}
    assert p12_sample.stay_split.index.equals(pd.Index(p12_sample.stay_ids))


def test_to_event_set_is_the_from_long_call_it_replaces(p19_sample):
    for data in (load_sample("val"), p19_sample):
        _same_event_sets(
            data.to_event_set(),
            EventSet.from_long(data.events, categorical=data.categorical, stays=data.stay_ids))
    assert set(p19_sample.to_event_set().categorical_features) == {"Gender", "Unit1", "Unit2"}
    # keyword arguments go to from_long and override the cohort's own
    assert load_sample("val").to_event_set(categorical=[]).categorical_features == ()


def test_to_event_set_keeps_stays_without_events():
    sample = load_sample("val")
    first, rest = sample.stay_ids[0], sample.stay_ids[1:]
    cohort = Cohort(events=sample.events[sample.events.stay_id != first], labels=sample.labels,
                    stay_ids=sample.stay_ids, report={})
    X = cohort.to_event_set()
    assert X.stay_ids.tolist() == sample.stay_ids.tolist() and len(X) == len(cohort) == 500
    assert X.offsets[1] == 0  # the first stay has no events, and is still there
    assert np.isin(rest, X.stay_ids).all()
    assert repr(cohort).startswith("Cohort(split=all, stays=500, ")


# ----------------------------------------------------------------------------- path resolution
def _folders(tmp_path):
    out = {}
    for name in ("given", "env", "cache/things"):
        out[name] = tmp_path / name
        out[name].mkdir(parents=True)
        (out[name] / "data.txt").write_text(name)
    return out


def _has_data(path: Path) -> bool:
    return (path / "data.txt").is_file()


def test_resolve_data_dir_argument_beats_environment_beats_cache(tmp_path, monkeypatch):
    folders = _folders(tmp_path)
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setenv("THINGS_DIR", str(folders["env"]))

    def resolve(given):
        return resolve_data_dir("Things", given, "THINGS_DIR", cache="things", has_data=_has_data)

    assert resolve(folders["given"]) == folders["given"]
    assert resolve(None) == folders["env"]
    monkeypatch.delenv("THINGS_DIR")
    assert resolve(None) == folders["cache/things"]
    # a place that is set but holds nothing is an error, not a reason to look further
    monkeypatch.setenv("THINGS_DIR", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match=r"no Things data in .*empty \(THINGS_DIR="):
        resolve(None)
    with pytest.raises(FileNotFoundError, match=r"no Things data in .*nowhere \(data_dir="):
        resolve(tmp_path / "nowhere")


def test_resolve_data_dir_error_names_every_place_tried(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.delenv("THINGS_DIR", raising=False)
    with pytest.raises(FileNotFoundError) as error:
        resolve_data_dir("Things", None, "THINGS_DIR", cache="things", has_data=_has_data,
                         how_to_get="Fetch them.")
    message = str(error.value)
    for tried in ("no data_dir given", "THINGS_DIR is not set",
                  f"the download cache {tmp_path / 'cache' / 'things'} is empty", "Fetch them."):
        assert tried in message, (tried, message)
    with pytest.raises(FileNotFoundError,
                       match="Things data not found: no path given and THINGS_DIR is not set"):
        resolve_data_dir("Things", None, "THINGS_DIR", argument="path")


def test_both_loaders_find_their_data_the_same_way(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "cache"))
    for env in (p12.ENV_DATA_DIR, p19.ENV_DATA_DIR):
        monkeypatch.delenv(env, raising=False)
    with pytest.raises(FileNotFoundError, match=f"{p19.ENV_DATA_DIR} is not set, and the download "
                                                f"cache .*physionet2019 is empty"):
        load_physionet2019(progress=False)
    with pytest.raises(FileNotFoundError, match=f"{p12.ENV_DATA_DIR} is not set, and the download "
                                                f"cache .*physionet2012 is empty"):
        load_physionet2012(split="val", progress=False)
    monkeypatch.setenv(p19.ENV_DATA_DIR, str(p19._SAMPLE_ARCHIVE))
    assert len(load_physionet2019(progress=False)) == 200
    monkeypatch.delenv(p19.ENV_DATA_DIR)
    cache = tmp_path / "cache" / "physionet2019"
    cache.mkdir(parents=True)
    (cache / "training_setA.tar.gz").symlink_to(p19._SAMPLE_ARCHIVE)
    assert load_physionet2019(progress=False).report["path"] == str(cache)


# ----------------------------------------------------------------------------- the registry
def test_the_registry_names_the_shared_cohorts():
    assert {"p12", "p19"} <= set(available_cohorts())
    assert get_cohort("p12").splits == get_cohort("p19").splits == ("train", "val", "test")
    assert "48 h" in get_cohort("p12").task and "24 h" in get_cohort("p19").task


def test_an_unknown_cohort_lists_the_registered_names():
    with pytest.raises(KeyError, match=r"no cohort named 'p13' \(did you mean 'p1[29]'\?\); "
                                       r"registered: \[.*'p12', 'p19'"):
        load_cohort("p13")


def test_p19_is_the_sepsis_task_built_by_hand():
    """The task of benchmarks/transfer_report.py and defaults_report.py, on the sample."""
    cohort = load_cohort("p19", split="train", data_dir=p19._SAMPLE_ARCHIVE, progress=False)
    data = load_physionet2019(p19._SAMPLE_ARCHIVE, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        task = make_window_task(data.events, data.onset, window=24.0, horizon=48.0,
                                stay_end=data.end)
    assert type(cohort) is Cohort and len(cohort) == len(task.stay_ids) == 132
    np.testing.assert_array_equal(cohort.stay_ids, task.stay_ids)
    pd.testing.assert_series_equal(cohort.labels, task.labels)
    pd.testing.assert_frame_equal(cohort.events, task.events)
    _same_event_sets(cohort.to_event_set(), task.to_event_set(categorical=list(data.categorical)))
    assert 0 < cohort.labels.sum() < len(cohort)
    assert cohort.events["time"].max() < 24
    # the exclusions, reported
    r = cohort.report
    assert r["excluded_by_reason"] == task.report["excluded_by_reason"]
    assert r["n_excluded"] == 68 and r["excluded_by_reason"]["onset in window"] == 50
    excluded = {i for ids in r["excluded_stays"].values() for i in ids}
    assert excluded == set(task.excluded.index) and not excluded & set(cohort.stay_ids)
    assert r["loader"]["n_stays"] == 200
    assert set(cohort.stay_split) == {"train"} and cohort.split == ("train",)


def test_split_words_of_meds_mean_the_same_splits():
    val = load_cohort("p19", split="tuning", data_dir=p19._SAMPLE_ARCHIVE, progress=False)
    assert val.split == ("val",) and len(val) == 0  # the sample is all train
    both = load_cohort("p19", split=["train", "held_out"], data_dir=p19._SAMPLE_ARCHIVE,
                       progress=False)
    assert both.split == ("train", "test") and len(both) == 132
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        load_cohort("p19", split="dev", data_dir=p19._SAMPLE_ARCHIVE, progress=False)


@needs_p12
def test_p12_is_the_loader_on_the_standard_split():
    val_ids = p12._listfile("val")["RecordID"].to_numpy()[:30]
    train_ids = p12._listfile("train")["RecordID"].to_numpy()[:20]
    cohort = load_cohort("p12", split="tuning", data_dir=SHARED_P12, stay_ids=val_ids,
                         progress=False)
    direct = load_physionet2012(SHARED_P12, split="val", stay_ids=val_ids, progress=False)
    assert isinstance(cohort, PhysioNet2012) and cohort.split == ("val",)
    pd.testing.assert_frame_equal(cohort.events, direct.events)
    pd.testing.assert_series_equal(cohort.labels, direct.labels)
    both = load_cohort("p12", split=["train", "val"], data_dir=SHARED_P12,
                       stay_ids=[*val_ids, *train_ids], progress=False)
    assert both.stay_split.to_dict() == {**dict.fromkeys(train_ids.tolist(), "train"),
                                         **dict.fromkeys(val_ids.tolist(), "val")}
    assert both.stay_split.index.equals(pd.Index(both.stay_ids))


def test_a_new_cohort_is_one_registration():
    def load_tiny(split="train", data_dir=None, **kwargs):
        """A tiny cohort: the P12 sample."""
        data = load_sample("train" if split == "train" else "val")
        return Cohort(events=data.events, labels=data.labels, stay_ids=data.stay_ids,
                      report={}, categorical=data.categorical, split=(split,))

    register_cohort("tiny_test_cohort", load_tiny, task="death")
    try:
        assert "tiny_test_cohort" in available_cohorts()
        assert get_cohort("tiny_test_cohort").description == "A tiny cohort: the P12 sample."
        assert len(load_cohort("tiny_test_cohort", split="held_out")) == 500
        with pytest.raises(ValueError, match="already registered"):
            register_cohort("tiny_test_cohort", lambda **kw: None)
        register_cohort("tiny_test_cohort", lambda **kw: load_sample().events, replace=True)
        with pytest.raises(TypeError, match="returned DataFrame, not a Cohort"):
            load_cohort("tiny_test_cohort")
    finally:
        unregister_cohort("tiny_test_cohort")
    assert "tiny_test_cohort" not in available_cohorts()
    with pytest.raises(ValueError, match="lower-case letters"):
        register_cohort("Bad Name", load_tiny)
