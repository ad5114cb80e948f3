"""PhysioNet 2019 loader on the real layout: the packaged slice of set A, folders and archives."""

import csv
import io
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medfuse_sk.datasets import load_physionet2019, load_physionet2019_sample
from medfuse_sk.datasets.physionet2019 import _loader as p19

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data" / "physionet2019"
needs_data = pytest.mark.skipif(not (SHARED / "training_setA.tar.gz").exists(),
                                reason="shared P19 data (../shared/data/physionet2019) not found")


def _sample_files() -> dict[int, str]:
    with tarfile.open(p19._SAMPLE_ARCHIVE) as archive:
        return {int(Path(m.name).stem[1:]): archive.extractfile(m).read().decode()
                for m in archive if m.isfile()}


def _by_hand(text: str):
    """Events, onset, start and end of one record, cell by cell with the csv module."""
    lines = list(csv.reader(io.StringIO(text), delimiter="|"))
    header, rows = lines[0], lines[1:]
    events, static, onset = [], {}, np.nan
    for row in rows:
        cell = dict(zip(header, row))
        hour = float(cell["ICULOS"]) - 1
        for name in p19.TIME_SERIES:
            if cell[name] != "NaN":
                events.append((hour, name, float(cell[name])))
        for name in p19.STATIC:
            if cell[name] != "NaN" and name not in static:
                static[name] = float(cell[name])
        if cell["SepsisLabel"] == "1" and np.isnan(onset):
            onset = hour
    events = [(0.0, name, value) for name, value in static.items()] + events
    start, end = float(rows[0][header.index("ICULOS")]) - 1, float(rows[-1][header.index("ICULOS")])
    return events, onset, start, end


@pytest.fixture(scope="module")
def sample():
    return load_physionet2019_sample()


def test_sample_matches_a_cell_by_cell_parse(sample):
    files = _sample_files()
    assert len(files) == len(sample) == 200
    assert sample.stay_ids.tolist() == sorted(files)
    got = sample.events.astype({"feature": str})
    for rid, text in files.items():
        want, onset, start, end = _by_hand(text)
        mine = got[got.stay_id == rid]
        key = ["time", "feature", "value"]
        expected = pd.DataFrame(want, columns=key)
        pd.testing.assert_frame_equal(
            mine[key].sort_values(key).reset_index(drop=True),
            expected.sort_values(key).reset_index(drop=True))
        assert (np.isnan(onset) and np.isnan(sample.onset[rid])) or sample.onset[rid] == onset
        assert sample.labels[rid] == (0 if np.isnan(onset) else 1)
        assert (sample.start[rid], sample.end[rid]) == (start, end)


def test_event_table_conventions(sample):
    ev = sample.events
    assert list(ev.columns) == ["stay_id", "time", "feature", "value"]
    assert ev.dtypes.astype(str).tolist() == ["int64", "float64", "category", "float64"]
    assert not ev["value"].isna().any()  # NaN cells produce no event
    stay = ev["stay_id"].to_numpy()
    # grouped by stay in stay_ids order, time-sorted within a stay
    assert (np.diff(pd.Index(sample.stay_ids).get_indexer(stay)) >= 0).all()
    same = stay[1:] == stay[:-1]
    assert (np.diff(ev["time"].to_numpy())[same] >= 0).all()
    # static fields: at most once per stay, at time 0
    static = ev[ev.feature.isin(p19.STATIC)]
    assert (static.time == 0).all()
    assert not static.duplicated(["stay_id", "feature"]).any()
    assert {"ICULOS", "SepsisLabel"}.isdisjoint(set(ev.feature.astype(str)))
    # the strata the sample was drawn from
    onset = sample.onset.to_numpy()
    assert [int(np.isnan(onset).sum()), int((onset < 24).sum()), int((onset >= 24).sum())] == [
        100, 50, 50]
    X = sample.to_event_set()
    assert len(X) == 200 and set(X.categorical_features) <= set(p19.CATEGORICAL)


def test_folder_layouts_read_the_same_as_the_archive(sample, tmp_path):
    with tarfile.open(p19._SAMPLE_ARCHIVE) as archive:
        archive.extractall(tmp_path, filter="data")
    for path in (tmp_path, tmp_path / "training_setA"):
        data = load_physionet2019(path, progress=False)
        pd.testing.assert_frame_equal(data.events, sample.events)
        pd.testing.assert_series_equal(data.onset, sample.onset)
    some = sample.stay_ids[[3, 150]].tolist()
    subset = load_physionet2019(tmp_path, stay_ids=some, progress=False)
    assert subset.stay_ids.tolist() == some
    assert set(subset.events.stay_id) == set(some)


def test_bad_input_is_named(tmp_path):
    folder = tmp_path / "training_setA"
    folder.mkdir()
    (folder / "p000007.psv").write_text("HR|O2Sat\n80|90\n")
    with pytest.raises(ValueError, match="p000007.psv: unexpected header"):
        load_physionet2019(tmp_path, progress=False)
    with pytest.raises(FileNotFoundError, match="training_setB"):
        load_physionet2019(tmp_path, sets="B", progress=False)
    with pytest.raises(ValueError, match="not found.*\\[12345\\]"):
        load_physionet2019(p19._SAMPLE_ARCHIVE, stay_ids=[12345], progress=False)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        load_physionet2019(p19._SAMPLE_ARCHIVE, split="dev", progress=False)


def test_shipped_split_is_fixed_and_stratified():
    split = pd.read_csv(p19._SPLIT_FILE)
    assert len(split) == 20_336 and split.stay_id.is_unique
    shares = split.split.value_counts(normalize=True)
    assert abs(shares["train"] - 0.64) < 0.002 and abs(shares["test"] - 0.20) < 0.002
    # the sample stays are all in train
    assert set(load_physionet2019_sample().stay_ids) <= set(split.stay_id[split.split == "train"])
    got = load_physionet2019(p19._SAMPLE_ARCHIVE, split="val", progress=False)
    assert len(got) == 0


def test_stratified_split_keeps_each_stratum_share():
    rng = np.random.default_rng(1)
    onset = pd.Series(np.where(rng.random(1000) < 0.1, rng.uniform(0, 100, 1000), np.nan))
    split = p19.stratified_split(onset, seed=3)
    assert split.equals(p19.stratified_split(onset, seed=3))
    for mask in (onset.isna(), onset < 24, onset >= 24):
        share = split[mask].value_counts(normalize=True)
        assert abs(share["train"] - 0.64) < 0.05


@pytest.mark.slow
@needs_data
def test_full_set_a_counts_and_split():
    data = load_physionet2019(SHARED, progress=False)
    r = data.report
    # counts from ../shared/data/README.md, verified there on the unpacked files
    assert (r["n_stays"], r["n_rows"], r["n_sepsis"], r["n_labelled_rows"]) == (
        20_336, 790_215, 1_790, 17_136)
    assert r["n_labelled_from_first_row"] == 203 and r["n_starting_after_first_hour"] == 7_497
    assert r["never_observed"] == ["EtCO2"] and r["n_static_changes"] == 0
    units = data.events[data.events.feature.isin(["Unit1", "Unit2"])].stay_id.nunique()
    assert len(data) - units == 9_522
    shipped = p19._split_table().reindex(data.stay_ids)
    assert shipped.tolist() == p19.stratified_split(data.onset).tolist()
