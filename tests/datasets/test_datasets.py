"""PhysioNet 2012 loader, packaged sample and checked download (offline: the network is faked)."""

import csv
import io
import shutil
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medfuse_sk.datasets import (
    ENV_CACHE,
    ChecksumError,
    fetch_physionet2012,
    load_physionet2012,
    load_sample,
)
from medfuse_sk.datasets.physionet2012 import _download as download
from medfuse_sk.datasets.physionet2012 import _loader as p12

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data" / "physionet2012"
needs_data = pytest.mark.skipif(not (SHARED / "set-c.tar.gz").exists(),
                                reason="shared P12 data (../shared/data/physionet2012) not found")

# set-c 152884 (train): Height -1 and three lines with an empty Parameter; set-a 140501
# (train): descriptors only, no time series
WITH_QUIRKS, NO_SERIES = 152884, 140501
A_VAL_STAY = 132949  # a validation stay of set-a


def _record_text(letter: str, record: int) -> str:
    with tarfile.open(SHARED / f"set-{letter}.tar.gz") as archive:
        return archive.extractfile(f"set-{letter}/{record}.txt").read().decode()


def _parse_by_hand(text: str) -> pd.DataFrame:
    """The loader's documented rules, applied line by line with the csv module."""
    rows = []
    for time, name, value in list(csv.reader(io.StringIO(text)))[1:]:
        hours = int(time[:2]) + int(time[3:]) / 60
        if name in ("", "RecordID") or value == "":
            continue
        if name in p12.DESCRIPTORS and hours == 0 and float(value) == -1:
            continue
        rows.append((hours, name, float(value)))
    return pd.DataFrame(rows, columns=["time", "feature", "value"])


@needs_data
def test_a_record_with_quirks_matches_a_line_by_line_parse():
    data = load_physionet2012(SHARED, split="train", stay_ids=[WITH_QUIRKS, NO_SERIES],
                              clean=False, progress=False)
    assert data.stay_ids.tolist() == sorted([WITH_QUIRKS, NO_SERIES], key=[
        *p12._listfile("train")["RecordID"]].index)
    got = data.events[data.events.stay_id == WITH_QUIRKS]
    want = _parse_by_hand(_record_text("c", WITH_QUIRKS))
    assert len(got) == len(want) > 400
    merged_got = got[["time", "feature", "value"]].astype({"feature": str})
    key = ["time", "feature", "value"]
    pd.testing.assert_frame_equal(merged_got.sort_values(key).reset_index(drop=True),
                                  want.sort_values(key).reset_index(drop=True))
    assert "Height" not in set(got.feature) and "RecordID" not in set(got.feature)
    assert data.report["n_empty_parameter"] == 3
    by_hand = {}
    for letter, record in (("c", WITH_QUIRKS), ("a", NO_SERIES)):
        for time, name, value in csv.reader(io.StringIO(_record_text(letter, record))):
            if time == "00:00" and name in p12.DESCRIPTORS and value == "-1":
                by_hand[name] = by_hand.get(name, 0) + 1
    assert data.report["missing_descriptor"] == by_hand and by_hand["Height"] == 2
    # the descriptor-only stay is there, with its descriptors and its label
    alone = data.events[data.events.stay_id == NO_SERIES]
    assert set(alone.feature) <= set(p12.DESCRIPTORS) and (alone.time == 0).all()
    assert data.report["n_stays_without_time_series"] == 1
    labels = p12._listfile("train").set_index("RecordID")["In-hospital_death"]
    assert data.labels.to_dict() == {i: labels[i] for i in data.stay_ids}


@needs_data
def test_cleaning_drops_only_impossible_values():
    raw = load_physionet2012(SHARED, split="val", clean=False, progress=False)
    clean = load_physionet2012(SHARED, split="val", progress=False)
    dropped = len(raw.events) - len(clean.events)
    assert dropped == clean.report["n_implausible"] > 0
    v, f = raw.events["value"], raw.events["feature"].astype(str)
    impossible = ((v < 0) | ((f == "Temp") & (v < 15)) | ((f == "Weight") & (v <= 0))
                  | ((f == "Height") & ((v < 100) | (v > 250))) | ((f == "pH") & ((v < 6) | (v > 8))))
    assert int(impossible.sum()) == dropped
    assert len(raw.stay_ids) == 1920 and raw.labels.sum() == p12._listfile("val")[
        "In-hospital_death"].sum()


@needs_data
def test_the_held_back_test_split_names_its_missing_records():
    with pytest.raises(FileNotFoundError, match=r"2,400 of 2,400 in split 'test'.*first missing"):
        load_physionet2012(SHARED, split="test", progress=False)
    with pytest.warns(UserWarning, match="missing"):
        part = load_physionet2012(SHARED, split=["val", "test"], on_missing="warn",
                                  stay_ids=[142731, *p12._listfile("test")["RecordID"][:3]],
                                  progress=False)
    assert part.stay_ids.tolist() == [142731] and len(part.missing) == 3


@needs_data
def test_unpacked_folders_read_like_archives(tmp_path):
    ids = [WITH_QUIRKS, 152871]
    (tmp_path / "set-c").mkdir()
    for record in ids:
        (tmp_path / "set-c" / f"{record}.txt").write_text(_record_text("c", record))
    from_folder = load_physionet2012(tmp_path, split="train", stay_ids=ids, progress=False)
    from_archive = load_physionet2012(SHARED, split="train", stay_ids=ids, progress=False)
    pd.testing.assert_frame_equal(from_folder.events, from_archive.events)
    assert list(tmp_path.iterdir()) == [tmp_path / "set-c"]  # nothing unpacked anywhere


def test_no_data_folder_says_how_to_get_the_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="fetch_physionet2012"):
        load_physionet2012(tmp_path, split="val", progress=False)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        load_physionet2012(tmp_path, split="dev")


@needs_data
def test_without_data_dir_only_the_environment_and_the_cache_are_looked_at(tmp_path, monkeypatch):
    """No repository path: from a folder beside ``shared/`` (where the old fallback looked),
    with no ``MEDFUSE_P12_DIR`` and an empty cache, loading is a clear error."""
    monkeypatch.chdir(Path(__file__).parents[2])  # ../shared/data/physionet2012 exists here
    monkeypatch.delenv(p12.ENV_DATA_DIR, raising=False)
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=f"{p12.ENV_DATA_DIR} is not set.*cache"):
        load_physionet2012(split="val", stay_ids=[A_VAL_STAY], progress=False)
    monkeypatch.setenv(p12.ENV_DATA_DIR, str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match=f"{p12.ENV_DATA_DIR}=.*nothing"):
        load_physionet2012(split="val", stay_ids=[A_VAL_STAY], progress=False)
    monkeypatch.setenv(p12.ENV_DATA_DIR, str(SHARED))
    assert len(load_physionet2012(split="val", stay_ids=[A_VAL_STAY], progress=False)) == 1
    monkeypatch.delenv(p12.ENV_DATA_DIR)
    cache = tmp_path / "cache" / "physionet2012"
    cache.mkdir(parents=True)
    (cache / "set-a.tar.gz").symlink_to(SHARED / "set-a.tar.gz")
    data = load_physionet2012(split="val", stay_ids=[A_VAL_STAY], progress=False)
    assert data.report["data_dir"] == str(cache)


def test_library_code_names_no_repository_path():
    root = Path(p12.__file__).parents[1]
    for path in root.rglob("*.py"):
        assert "shared/data" not in path.read_text() and "../shared" not in path.read_text(), path


def test_the_packaged_sample_is_real_and_stratified():
    train, test = load_sample("train"), load_sample("val")
    assert len(train) == 1000 and len(test) == 500
    assert not set(train.stay_ids) & set(test.stay_ids)
    assert set(train.stay_ids) <= set(p12._listfile("train")["RecordID"])
    assert set(test.stay_ids) <= set(p12._listfile("val")["RecordID"])
    for part in (train, test):
        assert 0.12 < part.labels.mean() < 0.16
    X = train.to_event_set()
    assert set(X.categorical_features) == {"Gender", "ICUType"}
    assert len(X.feature_names) == 41  # 37 series + 4 numerical/categorical descriptors


def test_the_sample_splits_say_what_they_hold():
    train, val, both = load_sample("train"), load_sample("val"), load_sample("all")
    assert train.split == ("sample-train",) and val.split == ("sample-val",)
    assert set(train.stay_split) == {"train"} and set(val.stay_split) == {"val"}
    assert both.stay_ids.tolist() == [*train.stay_ids, *val.stay_ids]
    with pytest.warns(FutureWarning, match=r"load_sample\('val'\)"):
        old = load_sample("test")  # the old name of the validation stays, deprecated
    assert old.stay_ids.tolist() == val.stay_ids.tolist() and old.split == ("sample-val",)
    with pytest.raises(ValueError, match="'train', 'val' or 'all'"):
        load_sample("held_out")


@needs_data
def test_the_sample_equals_the_loader_on_its_stays():
    sample = load_sample("val")
    some = sample.stay_ids[:40]
    loaded = load_physionet2012(SHARED, split="val", stay_ids=some, progress=False)
    got = sample.events[sample.events.stay_id.isin(some)].reset_index(drop=True)
    got["feature"] = p12._as_category(got["feature"])
    pd.testing.assert_frame_equal(got, loaded.events, check_categorical=False)


# ------------------------------------------------------------------------------------ download
def _fake_network(monkeypatch, corrupt: str | None = None, offline: bool = False):
    """``_download`` copies the shared files (optionally corrupting one) instead of fetching."""
    fetched = []

    def fake(url: str, dest: Path) -> None:
        if offline:
            raise urllib.error.URLError("no network")
        name = url.rsplit("/", 1)[1]
        fetched.append(name)
        shutil.copyfile(SHARED / name, dest)
        if name == corrupt:
            with open(dest, "r+b") as handle:
                handle.seek(100)
                handle.write(b"corrupted")

    monkeypatch.setattr(download, "_download", fake)
    return fetched


@needs_data
def test_fetch_verifies_and_caches(tmp_path, monkeypatch, four_thousand_records):
    fetched = _fake_network(monkeypatch)
    root = fetch_physionet2012(tmp_path / "cache")
    assert sorted(fetched) == sorted(download.FILES)
    assert sorted(p.name for p in root.iterdir()) == sorted(download.FILES)
    # the shared archives lack the held-back test records; the fixture accepts their count
    assert four_thousand_records == {"set-a.tar.gz": 3213, "set-b.tar.gz": 3192,
                                     "set-c.tar.gz": 3195}
    fetched.clear()
    fetch_physionet2012(tmp_path / "cache")  # cached and valid: nothing fetched again
    assert fetched == []


@pytest.fixture
def four_thousand_records(monkeypatch):
    """The shared archives hold 4,000 minus the held-back records; accept their count."""
    counts = {}
    real = download.content_digest

    def digest(path):
        value, n = real(path)
        counts[Path(path).name.removesuffix(".part")] = n
        return value, download.RECORDS_PER_SET

    monkeypatch.setattr(download, "content_digest", digest)
    return counts


@needs_data
def test_fetch_rejects_a_corrupted_outcomes_file(tmp_path, monkeypatch, four_thousand_records):
    _fake_network(monkeypatch, corrupt="Outcomes-b.txt")
    with pytest.raises(ChecksumError, match="Outcomes-b.txt.*SHA-256"):
        fetch_physionet2012(tmp_path)
    assert not (tmp_path / "Outcomes-b.txt").exists()
    assert not (tmp_path / "Outcomes-b.txt.part").exists()


@needs_data
def test_fetch_rejects_an_archive_with_a_changed_record(tmp_path, monkeypatch,
                                                        four_thousand_records):
    _fake_network(monkeypatch, corrupt="set-a.tar.gz")
    with pytest.raises((ChecksumError, tarfile.TarError, OSError, EOFError)):
        fetch_physionet2012(tmp_path)
    assert not (tmp_path / "set-a.tar.gz").exists()


@needs_data
def test_fetch_checks_archives_by_record_content(tmp_path, monkeypatch, four_thousand_records):
    """A repacked archive with one record edited fails the content digest."""
    source = tmp_path / "src"
    source.mkdir()
    with tarfile.open(SHARED / "set-b.tar.gz") as archive:
        archive.extractall(source, filter="data")
    record = sorted((source / "set-b").iterdir())[0]
    record.write_text(record.read_text().replace("HR,", "HR,1", 1))
    repacked = tmp_path / "set-b.tar.gz"
    with tarfile.open(repacked, "w:gz") as archive:
        archive.add(source / "set-b", arcname="set-b")
    with pytest.raises(ChecksumError, match="set-b.tar.gz.*content digest"):
        download._verify(repacked, "set-b.tar.gz")
    assert not repacked.exists()


def test_fetch_offline_says_what_to_do(tmp_path, monkeypatch):
    _fake_network(monkeypatch, offline=True)
    with pytest.raises(ConnectionError, match="could not download .*by hand"):
        fetch_physionet2012(tmp_path)
    assert not any(tmp_path.iterdir())


def test_checksums_are_recorded_for_every_file():
    for name in download.FILES:
        assert download.SHA256.get(name) or download.CONTENT_SHA256.get(name)
    assert np.all([len(v) == 64 for v in download.CONTENT_SHA256.values()])
