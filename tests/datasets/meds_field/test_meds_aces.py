"""The shipped ACES task (in-hospital mortality at 48 h after the first ICU admission) run by the
real ``aces-cli`` on a generated MEDS dataset, against an independent reading of the rule."""

from datetime import datetime, timedelta

import numpy as np
import pytest

pytest.importorskip("aces")
meds = pytest.importorskip("meds")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from medfuse_sk.datasets.meds import _pipelines as pipelines  # noqa: E402

H = timedelta(hours=1)
T0 = datetime(2100, 1, 1)
ADMIT, ICU_OUT, HOSP_OUT = "ICU_ADMISSION//x", "ICU_DISCHARGE//y", "HOSPITAL_DISCHARGE//z"
DEATH = "MEDS_DEATH"


def _subject(rng, sid):
    """Events of one random hospital stay: admissions, a death for some, measurements, statics."""
    start = T0 + timedelta(days=int(rng.integers(0, 3000)), minutes=int(rng.integers(0, 1440)))
    events = [(None, "GENDER//F", None), (start - 20 * 365 * 24 * H, "MEDS_BIRTH", None),
              (start - 5 * H, "HOSPITAL_ADMISSION//a", None)]
    los = timedelta(minutes=int(rng.integers(6 * 60, 200 * 60)))
    events.append((start, ADMIT, None))
    if rng.random() < 0.85:
        events.append((start + timedelta(minutes=int(rng.integers(60, 150 * 60))), ICU_OUT, None))
    if rng.random() < 0.25:  # a second ICU stay later: never a second sample
        events.append((start + los + 2 * H, ADMIT, None))
    end = start + los + (4 * H if rng.random() < 0.25 else 0 * H)
    if rng.random() < 0.3:
        events.append((end, DEATH, None))
    if rng.random() < 0.9:  # some records close with neither: no sample
        events.append((end, HOSP_OUT, None))
    for _ in range(int(rng.integers(0, 12))):
        events.append((start + timedelta(minutes=int(rng.integers(-600, 100 * 60))), "LAB//K",
                       float(rng.normal(4, 1))))
    return events


def _edge_cases():
    """Boundaries of the rule, each one subject: (events, expected (prediction offset, label) or None)."""
    at = lambda hours: T0 + hours * H  # noqa: E731
    return [
        ([(at(0), ADMIT, None), (at(72), HOSP_OUT, None)], (48, False)),
        ([(at(0), ADMIT, None), (at(60), DEATH, None), (at(60), HOSP_OUT, None)], (48, True)),
        ([(at(0), ADMIT, None), (at(24), ICU_OUT, None), (at(90), HOSP_OUT, None)], None),  # short ICU stay
        ([(at(0), ADMIT, None), (at(48), DEATH, None), (at(48), HOSP_OUT, None)], None),  # dies at 48 h
        ([(at(0), ADMIT, None), (at(48), HOSP_OUT, None)], None),  # discharged exactly at 48 h
        ([(at(0), ADMIT, None), (at(48) + timedelta(minutes=1), DEATH, None)], (48, True)),
        ([(at(0), ADMIT, None), (at(50), HOSP_OUT, None), (at(80), DEATH, None)], (48, False)),
        ([(at(0), ADMIT, None), (at(100), ADMIT, None), (at(200), DEATH, None)], (48, True)),  # first only
        ([(at(0), ADMIT, None), (at(30), "LAB//K", 4.0)], None),  # the record ends: no label
        ([(None, "GENDER//M", None), (at(-2), "LAB//K", 3.0)], None),  # never in the ICU
    ]


def _reference(events):
    """The task's rule, read directly off one subject's events (the test's own implementation)."""
    timed = sorted((t, c) for t, c, _ in events if t is not None)
    admissions = [t for t, c in timed if c.startswith("ICU_ADMISSION//")]
    if not admissions:
        return None
    start = admissions[0]
    end = start + 48 * H
    closing = ("ICU_DISCHARGE//", "HOSPITAL_DISCHARGE//", DEATH)
    if any(start <= t <= end and c.startswith(closing) for t, c in timed):
        return None
    after = [t for t, c in timed if t > end and c.startswith(("HOSPITAL_DISCHARGE//", DEATH))]
    if not after:
        return None
    return end, any(c == DEATH and end < t <= min(after) for t, c in timed)


def _write_dataset(root, subjects):
    """A MEDS dataset: two shards (train, held_out), sorted by time within subject, statics first."""
    shards = {"train/0": [], "held_out/0": []}
    for sid, events in subjects.items():
        shards["train/0" if sid % 4 else "held_out/0"].append((sid, events))
    schema = pa.schema([("subject_id", pa.int64()), ("time", pa.timestamp("us")), ("code", pa.string()),
                        ("numeric_value", pa.float32())])
    for name, members in shards.items():
        rows = [(sid, t, c, v) for sid, events in members
                for t, c, v in sorted(events, key=lambda e: (e[0] is not None, e[0] or T0))]
        table = pa.table(list(map(list, zip(*rows))), schema=schema)
        meds.DataSchema.validate(table)
        (root / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / "data" / f"{name}.parquet")
    return root


def test_the_shipped_mortality_task_runs_in_aces_and_follows_the_rule(tmp_path):
    rng = np.random.default_rng(0)
    subjects = {sid: _subject(rng, sid) for sid in range(120)}
    edges = _edge_cases()
    for k, (events, _) in enumerate(edges):
        subjects[1000 + k] = events
    data = _write_dataset(tmp_path / "MEDS", subjects)

    run = pipelines.run_aces(data, tmp_path / "tasks")  # the shipped configuration by default

    assert run.path == tmp_path / "tasks" / "mortality_in_hospital_48h"
    files = sorted(run.path.glob("*/*.parquet"))
    assert [f.relative_to(run.path).as_posix() for f in files] == ["held_out/0.parquet", "train/0.parquet"]
    got = {}
    for f in files:
        table = pq.read_table(f)
        meds.LabelSchema.validate(table)  # what ACES wrote fails this until run_aces drops all-null columns
        assert table.column_names == ["subject_id", "prediction_time", "boolean_value"]
        for row in table.to_pylist():
            assert row["subject_id"] not in got, "one sample per subject"
            got[row["subject_id"]] = (row["prediction_time"], row["boolean_value"])

    expected = {sid: ref for sid, events in subjects.items() if (ref := _reference(events)) is not None}
    assert got == expected
    for k, (_, case) in enumerate(edges):
        want = None if case is None else (T0 + case[0] * H, case[1])
        assert got.get(1000 + k) == want, f"edge case {k}"
    # the random part exercises both labels and both exclusions
    n_pos = sum(label for _, label in expected.values())
    assert 10 <= n_pos <= len(expected) - 10 and len(expected) < len(subjects) - 20
    assert run.report["samples"] == len(expected) and run.report["positive"] == n_pos
    assert run.report["splits"]["held_out"]["samples"] == sum(1 for s in expected if s % 4 == 0)

    with pytest.raises(FileExistsError, match="overwrite=True"):
        pipelines.run_aces(data, tmp_path / "tasks")


def test_aces_output_that_no_label_column_fills_is_an_error_naming_the_shard(tmp_path):
    shard = tmp_path / "0.parquet"
    pq.write_table(pa.table({"subject_id": pa.array([1], pa.int64()),
                             "prediction_time": pa.array([T0], pa.timestamp("us")),
                             "boolean_value": pa.array([None], pa.bool_()),
                             "integer_value": pa.array([None], pa.int64())}), shard)
    with pytest.raises(pipelines.PipelineError, match=r"0\.parquet: every label column"):
        pipelines._finalize_labels(shard)


def test_a_folder_without_shards_is_refused_before_aces_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no parquet shard"):
        pipelines.run_aces(tmp_path, tmp_path / "tasks")
