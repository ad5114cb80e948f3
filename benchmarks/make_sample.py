"""Build the PhysioNet 2012 sample shipped in ``medfuse_sk/datasets/data/``.

1,000 stays of the standard train split and 500 of the validation split, each drawn stratified
on the label at random with seed 0 (``sklearn.model_selection.train_test_split``), loaded with
``load_physionet2012(clean=True)`` and written as

- ``p12_sample_events.csv.gz``: ``stay_id,minute,feature,value`` (time as integer minutes since
  ICU admission, exact for ``HH:MM`` times; gzip without a timestamp, so rebuilds are identical);
- ``p12_sample_labels.csv``: ``stay_id,in_hospital_death,subset`` (``train`` / ``val``,
  the standard split each stay comes from; ``load_sample("train")`` / ``load_sample("val")``).

Usage: ``python benchmarks/make_sample.py [DATA_DIR]`` (default ``../shared/data/physionet2012``).
"""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from medfuse_sk.datasets import load_physionet2012
from medfuse_sk.datasets.physionet2012._loader import (
    _SAMPLE_DIR,
    _SAMPLE_EVENTS,
    _SAMPLE_LABELS,
    _listfile,
)

SIZES = {"train": ("train", 1000), "val": ("val", 500)}
SEED = 0


def _draw(split: str, size: int) -> np.ndarray:
    table = _listfile(split)
    ids = table["RecordID"].to_numpy()
    chosen, _ = train_test_split(
        ids, train_size=size, stratify=table["In-hospital_death"], random_state=SEED
    )
    return ids[np.isin(ids, chosen)]  # keep listfile order


def build(data_dir: Path, out_dir: Path = _SAMPLE_DIR) -> tuple[pd.DataFrame, pd.DataFrame]:
    events, labels = [], []
    for subset, (split, size) in SIZES.items():
        data = load_physionet2012(data_dir, split, stay_ids=_draw(split, size), progress=False)
        events.append(data.events)
        labels.append(
            pd.DataFrame(
                {
                    "stay_id": data.stay_ids,
                    "in_hospital_death": data.labels.to_numpy(),
                    "subset": subset,
                }
            )
        )
    table = pd.concat(events, ignore_index=True)
    minute = np.rint(table["time"].to_numpy() * 60).astype(np.int64)
    if not np.allclose(minute / 60.0, table["time"].to_numpy(), rtol=0, atol=1e-12):
        raise ValueError("times are not whole minutes")
    compact = pd.DataFrame(
        {
            "stay_id": table["stay_id"],
            "minute": minute,
            "feature": table["feature"],
            "value": table["value"],
        }
    )
    text = compact.to_csv(index=False, float_format="%.10g", lineterminator="\n")
    if not np.array_equal(
        pd.read_csv(io.StringIO(text))["value"].to_numpy(), compact["value"].to_numpy()
    ):
        raise ValueError("values do not round-trip through %.10g")
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / _SAMPLE_EVENTS, "wb") as raw, gzip.GzipFile(
        fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename=""
    ) as handle:
        handle.write(text.encode())
    label_table = pd.concat(labels, ignore_index=True)
    label_table.to_csv(out_dir / _SAMPLE_LABELS, index=False, lineterminator="\n")
    return compact, label_table


def main(argv: list[str]) -> None:
    data_dir = Path(argv[1]) if len(argv) > 1 else Path("..") / "shared" / "data" / "physionet2012"
    events, labels = build(data_dir)
    for subset, group in labels.groupby("subset", sort=False):
        print(
            f"{subset}: {len(group)} stays, {int(group['in_hospital_death'].sum())} positive, "
            f"{int(events['stay_id'].isin(group['stay_id']).sum()):,} events"
        )
    for name in (_SAMPLE_EVENTS, _SAMPLE_LABELS):
        print(f"{_SAMPLE_DIR / name}: {(_SAMPLE_DIR / name).stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main(sys.argv)
