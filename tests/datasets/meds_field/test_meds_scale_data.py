"""The scale benchmark (``benchmarks/meds_scale.py``) compares like with like: its generated MEDS
dataset follows the ``meds`` schemas, its long table holds the same events, and the MEDS reader
and the long-table path give the same number of events and tokens from them."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("meds")

import pyarrow.parquet as pq  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("meds_scale", ROOT / "benchmarks" / "meds_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(scale, tmp_path_factory):
    work = tmp_path_factory.mktemp("scale")
    return work, scale.generate(work, n_events=30_000, shard_events=8_000, seed=1)


def test_the_generated_dataset_follows_the_meds_schemas(generated):
    from medfuse_sk.datasets.meds import validate_meds

    work, info = generated
    checked = validate_meds(work / "MEDS", work / "task_48h")
    assert checked
    rows = sum(pq.read_metadata(p).num_rows for p in (work / "MEDS" / "data").rglob("*.parquet"))
    assert rows == info["n_rows"] == 30_000 and info["n_shards"] >= 4


def test_a_realistic_mix_of_codes_and_values(generated):
    work, _ = generated
    table = pq.read_table(work / "MEDS" / "data").to_pandas()
    numeric = table["numeric_value"].notna().mean()
    text = table["text_value"].notna().mean()
    static = table["time"].isna().mean()
    assert 0.45 < numeric < 0.7 and 0.02 < text < 0.08 and 0 < static < 0.01
    assert table["code"].nunique() > 1000
    both = table[table["code"].str.startswith("LAB//")]
    assert both["numeric_value"].notna().any() and both["text_value"].notna().any()  # mixed codes


def test_the_long_table_holds_the_same_events(generated):
    work, _ = generated
    meds = pq.read_table(work / "MEDS" / "data").to_pandas()
    long = pq.read_table(work / "long.parquet").to_pandas()
    assert len(long) == len(meds)
    assert sorted(long["stay_id"].unique()) == sorted(meds["subject_id"].unique())
    numbers = meds["numeric_value"].dropna().astype(np.float64).sort_values().to_numpy()
    assert np.array_equal(np.sort(long["value"][long["value"] != 1.0].to_numpy()),
                          numbers[numbers != 1.0])
    texts = meds.dropna(subset=["text_value"])
    assert (texts["code"] + "//" + texts["text_value"]).isin(long["feature"]).all()


def test_both_paths_read_the_same_events_and_tokens(generated):
    from medfuse_sk.data import EventSet, EventTokenizer
    from medfuse_sk.datasets.meds import load_meds
    from medfuse_sk.io import read_table

    work, info = generated
    cohort = load_meds(work / "MEDS", work / "task_all", split="all", exclude=())
    long = EventSet.from_long(read_table(work / "long.parquet"))
    assert cohort.to_event_set().n_rows == long.n_rows == info["n_rows"]
    lengths = dict(zip(cohort.samples["subject_id"], np.diff(cohort.to_event_set().offsets)))
    assert lengths == dict(zip(long.stay_ids, np.diff(long.offsets)))
    tokens = [EventTokenizer(max_tokens=None).fit(x).transform(x).n_rows
              for x in (cohort.to_event_set(), long)]
    assert tokens[0] == tokens[1] == info["n_rows"]
