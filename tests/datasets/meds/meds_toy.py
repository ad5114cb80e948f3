"""Small MEDS datasets written for the tests, and an independent per-sample reference of what
reading one must give (a plain loop over samples, written apart from the vectorised reader)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DATA_SCHEMA = pa.schema([("subject_id", pa.int64()), ("time", pa.timestamp("us")),
                         ("code", pa.string()), ("numeric_value", pa.float32()),
                         ("text_value", pa.large_string())])
LABEL_SCHEMA = pa.schema([("subject_id", pa.int64()), ("prediction_time", pa.timestamp("us")),
                          ("boolean_value", pa.bool_())])
T0 = pd.Timestamp("2020-01-01")


def write_rows(path: Path, rows: pd.DataFrame) -> None:
    """One data shard with the MEDS schema (rows: subject_id, time, code, numeric_value,
    text_value), sorted by subject then time with static rows first."""
    rows = rows.copy()
    for column in ("numeric_value", "text_value"):
        if column not in rows:
            rows[column] = None
    rows["time"] = pd.to_datetime(rows["time"]).dt.floor("us")
    key = rows["time"].fillna(pd.Timestamp.min)
    rows = rows.assign(_key=key).sort_values(["subject_id", "_key"], kind="stable").drop(columns="_key")
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(rows[list(DATA_SCHEMA.names)], schema=DATA_SCHEMA,
                                 preserve_index=False)
    pq.write_table(table, path)


def write_dataset(root: Path, rows: pd.DataFrame, labels: pd.DataFrame, splits: dict,
                  n_shards: int = 2) -> tuple[Path, Path]:
    """A MEDS dataset (``n_shards`` shards, subjects dealt round-robin) and a task folder."""
    subjects = np.unique(rows["subject_id"])
    for k in range(n_shards):
        mine = subjects[k::n_shards]
        write_rows(root / "data" / f"shard_{k}.parquet", rows[rows["subject_id"].isin(mine)])
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    codes = sorted(rows["code"].unique())
    pq.write_table(pa.table({"code": pa.array(codes, pa.string()),
                             "description": pa.array([None] * len(codes), pa.string()),
                             "parent_codes": pa.array([None] * len(codes), pa.list_(pa.string()))}),
                   root / "metadata" / "codes.parquet")
    pq.write_table(pa.table({"subject_id": pa.array(list(splits), pa.int64()),
                             "split": pa.array(list(splits.values()), pa.string())}),
                   root / "metadata" / "subject_splits.parquet")
    task = root / "task_labels" / "task"
    write_labels(task / "labels.parquet", labels)
    return root, task


def write_labels(path: Path, labels: pd.DataFrame, schema: pa.Schema = LABEL_SCHEMA) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(labels, schema=schema, preserve_index=False), path)


def random_dataset(n_subjects=60, seed=0, codes=("HR", "NA", "LAB//X"), events=30,
                   train_share=0.5, predictions_per_subject=3):
    """Random rows (timed numbers, some text and bare rows, static rows, a birth), random
    prediction times inside each subject's span, random labels, splits by subject."""
    rng = np.random.default_rng(seed)
    frames = []
    labels = []
    splits = {}
    for s in range(1, n_subjects + 1):
        start = (T0 + pd.Timedelta(hours=float(rng.uniform(0, 1000)))).floor("s")
        hours = np.round(np.sort(rng.uniform(0, 96, size=events)), 6)  # whole microseconds
        code = rng.choice(list(codes), size=events)
        number = rng.normal(size=events).astype(np.float32)
        text = np.full(events, None, dtype=object)
        kind = rng.choice(3, size=events, p=[0.7, 0.2, 0.1])
        text[kind == 1] = rng.choice(["pos", "neg", "trace"], size=int((kind == 1).sum()))
        number[kind != 0] = np.nan
        event_times = (start + pd.to_timedelta(hours, "h")).floor("us")
        frames.append(pd.DataFrame({"subject_id": s, "time": event_times,
                                    "code": code, "numeric_value": number, "text_value": text}))
        frames.append(pd.DataFrame({"subject_id": [s, s, s], "time": [pd.NaT, pd.NaT,
                                    start - pd.Timedelta(days=365.25 * rng.uniform(20, 80))],
                                    "code": ["SEX//" + rng.choice(["F", "M"]), "HEIGHT",
                                             "MEDS_BIRTH"],
                                    "numeric_value": [np.nan, rng.uniform(150, 190), np.nan],
                                    "text_value": [None, None, None]}))
        times = [(start + pd.Timedelta(hours=float(h))).floor("s")
                 for h in rng.uniform(-5, 100, size=predictions_per_subject)]
        times[0] = event_times[events // 2]  # exactly at an event
        times[-1] = times[0] + pd.Timedelta(hours=12)  # an event exactly at its window's start
        for t in times:
            labels.append((s, t.floor("us"), bool(rng.random() < 0.4)))
        splits[s] = "train" if s <= n_subjects * train_share else (
            "tuning" if s % 2 else "held_out")
    rows = pd.concat(frames, ignore_index=True)
    rows["time"] = pd.to_datetime(rows["time"]).dt.floor("us")
    rows["numeric_value"] = rows["numeric_value"].astype(np.float32)
    labels = pd.DataFrame(labels, columns=["subject_id", "prediction_time", "boolean_value"])
    labels = labels.drop_duplicates(["subject_id", "prediction_time"])
    return rows, labels, splits


def reference(rows: pd.DataFrame, labels: pd.DataFrame, lookback_hours=None,
              exclude=(r"^MEDS_DEATH", r"DISCHARGE"), train_subjects=None) -> pd.DataFrame:
    """What each sample must hold, one sample at a time: rows (subject, prediction_time, time
    in hours, feature, value) with value a float or a class string. A code's kinds (numbers,
    text, bare) and so its features' names come from the samples of ``train_subjects`` (all
    samples when None), as the vocabulary is fitted on the training split."""
    patterns = [re.compile(p, re.IGNORECASE) for p in exclude]
    rows = rows[[not any(p.search(c) for p in patterns) for c in rows["code"]]]
    rows = rows.drop_duplicates(["subject_id", "time", "code", "numeric_value", "text_value"])
    raw = []
    for s, pt in labels[["subject_id", "prediction_time"]].itertuples(index=False):
        mine = rows[rows["subject_id"] == s]
        birth = mine["code"].str.startswith("MEDS_BIRTH")
        timed = mine[mine["time"].notna() & ~birth]
        if lookback_hours is None:
            origin = timed["time"].min()
            inside = timed[timed["time"] <= pt]
        else:
            origin = pt - pd.Timedelta(hours=lookback_hours)
            inside = timed[(timed["time"] >= origin) & (timed["time"] <= pt)]
        for _, r in mine[mine["time"].isna() & ~birth].iterrows():
            raw.append((s, pt, 0.0, r["code"], r["numeric_value"], r["text_value"]))
        for _, r in mine[birth].iterrows():
            raw.append((s, pt, 0.0, r["code"], (pt - r["time"]) / pd.Timedelta(days=365.25), None))
        for _, r in inside.iterrows():
            raw.append((s, pt, (r["time"] - origin) / pd.Timedelta(hours=1), r["code"],
                        r["numeric_value"], r["text_value"]))
    raw = pd.DataFrame(raw, columns=["subject_id", "prediction_time", "time", "code", "number",
                                     "text"])
    train = raw if train_subjects is None else raw[raw["subject_id"].isin(train_subjects)]
    number = train["number"].notna()
    text = train["text"].notna() & ~number
    has_number = number.groupby(train["code"]).any()
    has_text = text.groupby(train["code"]).any()
    out = [(s, pt, t, *_feature(code, n, x, has_number.get(code, False),
                                has_text.get(code, False)))
           for s, pt, t, code, n, x in raw.itertuples(index=False)]
    return pd.DataFrame(out, columns=["subject_id", "prediction_time", "time", "feature", "value"])


def _feature(code, number, text, has_number, has_text):
    if pd.notna(number):
        return code, float(number)
    if text is not None and pd.notna(text):
        return (code + "//text" if has_number else code), str(text)
    return (code + "//present" if has_number or has_text else code), 1.0


def read_back(cohort) -> pd.DataFrame:
    """A MEDS cohort's events in :func:`reference`'s shape."""
    long = cohort.to_event_set().to_long()
    samples = cohort.samples
    return pd.DataFrame({"subject_id": samples.loc[long["stay_id"], "subject_id"].to_numpy(),
                         "prediction_time": samples.loc[long["stay_id"], "prediction_time"]
                         .to_numpy(),
                         "time": long["time"].to_numpy(), "feature": long["feature"].to_numpy(),
                         "value": long["value"].to_numpy()})


def with_vocabulary(table: pd.DataFrame, vocabulary) -> pd.DataFrame:
    """``table`` (of :func:`reference`) with the documented vocabulary rules applied: features
    the vocabulary lacks become ``<unknown>`` (value 1), classes it lacks ``<other>``."""
    table = table.copy()
    known = set(vocabulary.names)
    unknown = ~table["feature"].isin(known)
    table.loc[unknown, "feature"], table.loc[unknown, "value"] = "<unknown>", 1.0
    for feature, classes in vocabulary.classes.items():
        mine = (table["feature"] == feature).to_numpy()
        rare = mine & ~table["value"].astype(str).isin(classes).to_numpy()
        table.loc[rare, "value"] = "<other>"
    return table


def canonical(table: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted one way: classes in ``text``, numbers in ``number`` (NaN for classes)."""
    value = table["value"].to_numpy(dtype=object)
    is_text = np.array([isinstance(v, str) for v in value], dtype=bool)
    out = pd.DataFrame({"subject_id": table["subject_id"].to_numpy(),
                        "prediction_time": table["prediction_time"].to_numpy(),
                        "time": table["time"].astype(float).round(6).to_numpy(),
                        "feature": table["feature"].astype(str).to_numpy(),
                        "text": np.where(is_text, value, "").astype(str),
                        "number": np.where(is_text, np.nan, value).astype(float)})
    out["key"] = out["number"].round(3)
    return out.sort_values(["subject_id", "prediction_time", "time", "feature", "text", "key"]
                           ).drop(columns="key").reset_index(drop=True)
