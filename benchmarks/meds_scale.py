"""MEDS at scale: read + sample building + tokenising throughput and peak memory, side by side.

One generated MEDS dataset (``--events``, default 50 M; shards of ``--shard-events``, a realistic
mix of numerical, presence and text codes over ~1,000 events per subject) is read, in separate
processes, in one run:

``meds_all``      medfuse's MEDS reader (``load_meds``), one sample per subject at its last event,
                  no look-back: exactly the events of the long table below, so the paths compare
                  event for event (the same ``n_events`` and tokens come out);
``meds_48h``      the same reader on a realistic task: 1-4 prediction times per subject (48 h
                  into each admission of 48 h or more), 48-hour look-back;
``meds_all_1job`` ``meds_all`` with the shards prepared in one process (the others use two);
``long``          the same events as one long parquet table through the existing long-table
                  path: ``medfuse_sk.io.read_table`` + ``EventSet.from_long`` (what
                  ``medfuse_sk.io.read_events`` runs), then the same tokenizer;
``meds_reader``   ``meds-reader`` 0.2: ``meds_reader_convert`` (its own format), then reading every
                  event into arrays and building the 48-hour samples through its ``map`` and
                  ``map_with_data`` (two worker processes). It has no tokenizer.

Every step reports seconds and events per second (events READ, i.e. the dataset's rows, for
each path), the peak resident memory of its process tree (sampled every 20 ms, all processes
summed) and of its main process alone (``getrusage``), and the memory target of issue 21:
below 4 × 24 bytes per event (subject int64, time int64, code int32, value float32).

Run (the full size, niced, one run)::

    nice -n 5 python benchmarks/meds_scale.py --events 50000000 --work /tmp/meds_scale \\
        --out benchmarks/results/meds/scale_50M.json

``--events 2000000`` runs in about a minute. The dataset is generated once into ``--work`` and
reused while ``--events`` and ``--seed`` are unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

BYTES_PER_EVENT = 24  # subject int64 + time int64 + code index int32 + value float32
HOUR_US = 3_600_000_000
EPOCH_2010_US = 1_262_304_000_000_000
STEPS = ("meds_all", "meds_48h", "meds_all_1job", "long", "meds_reader")

# ---------------------------------------------------------------------------------------------
# the generated dataset


def _code_families(rng: np.random.Generator) -> dict[str, dict]:
    """Code families: names, share of the timed events, Zipf weights within, value kind."""
    def zipf(n: int, a: float = 1.1) -> np.ndarray:
        w = 1.0 / np.arange(1, n + 1) ** a
        return w / w.sum()

    labs = np.array([f"LAB//{i}//{u}" for i, u in zip(range(1500), rng.choice(
        ["mg/dL", "mmol/L", "U/L", "%", "K/uL"], 1500))], dtype=object)
    return {
        # numeric: labs and vitals, per-code log-normal scales; 3 % of lab rows hold a text
        # result instead ("<0.5", "hemolyzed", ...): mixed codes
        "lab": {"codes": labs, "share": 0.30, "w": zipf(1500), "kind": "mixed",
                "scale": rng.lognormal(2.0, 1.5, 1500)},
        "vital": {"codes": np.array([f"VITALS//{i}" for i in range(200)], dtype=object),
                  "share": 0.30, "w": zipf(200, 1.4), "kind": "number",
                  "scale": rng.lognormal(3.5, 0.8, 200)},
        # presence: medications, procedures, diagnoses
        "medication": {"codes": np.array([f"MEDICATION//START//{i}" for i in range(3000)], dtype=object),
                       "share": 0.22, "w": zipf(3000), "kind": "presence"},
        "procedure": {"codes": np.array([f"PROCEDURE//{i}" for i in range(1000)], dtype=object),
                      "share": 0.08, "w": zipf(1000), "kind": "presence"},
        "diagnosis": {"codes": np.array([f"DIAGNOSIS//ICD10CM//{i}" for i in range(1000)], dtype=object),
                      "share": 0.07, "w": zipf(1000), "kind": "presence"},
        # text: categorical observations (culture results, assessments)
        "text": {"codes": np.array([f"OBSERVATION//{i}" for i in range(50)], dtype=object),
                 "share": 0.03, "w": zipf(50), "kind": "text"},
    }


TEXTS = np.array(["positive", "negative", "pending", "normal", "abnormal", "none", "mild", "severe"],
                 dtype=object)
LAB_TEXTS = np.array(["<0.5", ">100", "hemolyzed", "see note"], dtype=object)


def _subjects(n_events: int, rng: np.random.Generator) -> np.ndarray:
    """Events per subject: log-normal around 1,000 (at least 20), summing to ``n_events``."""
    n_subjects = max(10, n_events // 1000)
    sizes = np.maximum(20, rng.lognormal(np.log(700), 0.9, n_subjects)).astype(np.int64)
    sizes = np.maximum(20, (sizes * (n_events / sizes.sum())).astype(np.int64))
    deficit = n_events - int(sizes.sum())
    if deficit > 0:
        sizes[:deficit] += 1
    while sizes.sum() > n_events:  # the excess of the at-least-20 rule, from the largest
        sizes[np.argmax(sizes)] -= min(int(sizes.sum()) - n_events, int(sizes.max()) - 20)
    return sizes


def _shard_table(subject_ids, sizes, families, rng):
    """One shard: the subjects' events, sorted by subject then time (static rows first)."""
    import pyarrow as pa

    n_sub = len(subject_ids)
    n_adm = rng.integers(1, 5, n_sub)                          # 1-4 admissions each
    adm_subject = np.repeat(np.arange(n_sub), n_adm)
    first = EPOCH_2010_US + rng.integers(0, 8 * 365 * 24, n_sub) * HOUR_US
    gap = rng.integers(30 * 24, 400 * 24, len(adm_subject)) * HOUR_US
    group_first = np.repeat(np.cumsum(n_adm) - n_adm, n_adm)
    order_in = np.arange(len(adm_subject)) - group_first
    since_first = np.cumsum(np.where(order_in > 0, gap, 0))
    adm_start = first[adm_subject] + since_first - since_first[group_first]
    los = (np.exp(rng.normal(np.log(4 * 24), 0.8, len(adm_subject))) * HOUR_US).astype(np.int64)
    los = np.maximum(los, 6 * HOUR_US)

    # per subject: 2 static rows, MEDS_BIRTH, and per admission 3 rows (admission, ICU, discharge)
    fixed = 3 + 3 * n_adm
    n_free = np.maximum(sizes - fixed, 0)
    sizes = fixed + n_free
    n = int(sizes.sum())
    subj = np.repeat(np.arange(n_sub), sizes)
    time = np.zeros(n, dtype=np.int64)
    code = np.empty(n, dtype=object)
    number = np.full(n, np.nan, dtype=np.float32)
    text = np.full(n, None, dtype=object)
    static = np.zeros(n, dtype=bool)
    starts = np.cumsum(sizes) - sizes

    # static rows and birth
    static[starts] = static[starts + 1] = True
    code[starts] = np.where(rng.random(n_sub) < 0.5, "GENDER//F", "GENDER//M")
    code[starts + 1] = rng.choice(np.array(["RACE//WHITE", "RACE//BLACK", "RACE//ASIAN", "RACE//OTHER"],
                                           dtype=object), n_sub)
    code[starts + 2] = "MEDS_BIRTH"
    time[starts + 2] = first - rng.integers(18 * 365, 90 * 365, n_sub) * 24 * HOUR_US
    # admission markers
    adm_row = np.repeat(starts + 3, n_adm) + 3 * order_in
    code[adm_row] = "HOSPITAL_ADMISSION"
    time[adm_row] = adm_start
    code[adm_row + 1] = "ICU_ADMISSION"
    time[adm_row + 1] = adm_start + HOUR_US
    code[adm_row + 2] = "HOSPITAL_DISCHARGE"
    time[adm_row + 2] = adm_start + los
    # the free events: spread over the subject's admissions
    free_pos = np.repeat(starts + fixed, n_free) + (np.arange(int(n_free.sum()))
                                                     - np.repeat(np.cumsum(n_free) - n_free, n_free))
    free_subj = subj[free_pos]
    pick = rng.random(len(free_pos))
    adm_first = np.cumsum(n_adm) - n_adm
    adm_of = adm_first[free_subj] + (pick * n_adm[free_subj]).astype(np.int64)
    time[free_pos] = adm_start[adm_of] + (rng.random(len(free_pos)) * los[adm_of]).astype(np.int64)
    names = list(families)
    fam = rng.choice(len(names), len(free_pos), p=np.array([families[k]["share"] for k in names])
                     / sum(families[k]["share"] for k in names))
    for f, name in enumerate(names):
        spec = families[name]
        rows = free_pos[fam == f]
        idx = rng.choice(len(spec["codes"]), len(rows), p=spec["w"])
        code[rows] = spec["codes"][idx]
        if spec["kind"] in ("number", "mixed"):
            number[rows] = (spec["scale"][idx] * rng.lognormal(0, 0.3, len(rows))).astype(np.float32)
        if spec["kind"] == "mixed":
            as_text = rng.random(len(rows)) < 0.03
            number[rows[as_text]] = np.nan
            text[rows[as_text]] = rng.choice(LAB_TEXTS, int(as_text.sum()))
        if spec["kind"] == "text":
            text[rows] = rng.choice(TEXTS, len(rows))

    time_key = np.where(static, np.iinfo(np.int64).min, time)
    order = np.lexsort((time_key, subj))
    subj, time, code, number, text, static = (a[order] for a in (subj, time, code, number, text, static))
    times = pa.array(time, pa.timestamp("us"), mask=static)
    return pa.table({
        "subject_id": pa.array(np.asarray(subject_ids)[subj], pa.int64()),
        "time": times,
        "code": pa.array(code, pa.string()),
        "numeric_value": pa.array(number, pa.float32(), from_pandas=True),
        "text_value": pa.array(text, pa.large_string()),
    }), adm_start, los, np.asarray(subject_ids)[adm_subject]


def generate(work: Path, n_events: int, shard_events: int, seed: int) -> dict:
    """Write the MEDS dataset, its two tasks and the long table under ``work`` (cached)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = work / "manifest.json"
    want = {"n_events": n_events, "shard_events": shard_events, "seed": seed, "version": 3}
    if manifest.is_file():
        have = json.loads(manifest.read_text())
        if {k: have.get(k) for k in want} == want:
            return have
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    families = _code_families(rng)
    sizes = _subjects(n_events, rng)
    subject_ids = 1_000_000 + rng.permutation(len(sizes) * 7)[: len(sizes)].astype(np.int64)
    split = rng.choice(np.array(["train", "tuning", "held_out"]), len(sizes), p=[0.8, 0.1, 0.1])
    data = work / "MEDS"
    for sub in ("data", "metadata"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    long_schema = pa.schema([("stay_id", pa.int64()), ("time", pa.timestamp("us")),
                             ("feature", pa.string()), ("value", pa.float64())])
    long_writer = pq.ParquetWriter(work / "long.parquet", long_schema)
    labels_48h, labels_all = [], []
    n_rows, n_shards, codes = 0, 0, set()
    for name in ("train", "tuning", "held_out"):
        members = np.flatnonzero(split == name)
        bounds = np.searchsorted(np.cumsum(sizes[members]), np.arange(shard_events, sizes[members].sum(),
                                                                       shard_events))
        for k, part in enumerate(np.split(members, bounds)):
            if not len(part):
                continue
            table, adm_start, los, adm_subject = _shard_table(subject_ids[part], sizes[part], families, rng)
            (data / "data" / name).mkdir(exist_ok=True)
            pq.write_table(table, data / "data" / name / f"{k}.parquet", row_group_size=1_000_000)
            n_rows += table.num_rows
            n_shards += 1
            codes.update(table.column("code").unique().to_pylist())
            # the realistic task: 48 h into every admission of 48 h or more
            ok = los >= 48 * HOUR_US
            labels_48h.append(pa.table({
                "subject_id": pa.array(adm_subject[ok], pa.int64()),
                "prediction_time": pa.array(adm_start[ok] + 48 * HOUR_US, pa.timestamp("us")),
                "boolean_value": pa.array(rng.random(int(ok.sum())) < 0.1)}))
            # the all-events task: one sample per subject at its last event
            subj = table.column("subject_id").to_numpy()
            t = table.column("time").cast(pa.int64()).fill_null(np.iinfo(np.int64).min).to_numpy()
            last = np.r_[np.flatnonzero(np.diff(subj)), len(subj) - 1]
            labels_all.append(pa.table({
                "subject_id": pa.array(subj[last], pa.int64()),
                "prediction_time": pa.array(t[last], pa.timestamp("us")),
                "boolean_value": pa.array(rng.random(len(last)) < 0.1)}))
            # the long table: the same rows; a static row at the subject's first timed event, a
            # presence row (no value) valued 1, a text row as the presence of code//text
            static = t == np.iinfo(np.int64).min
            group = np.r_[0, np.flatnonzero(np.diff(subj)) + 1]
            first_timed = group + np.add.reduceat(static.astype(np.int64), group)  # statics sort first
            t_long = np.where(static, np.repeat(t[first_timed], np.diff(np.r_[group, len(t)])), t)
            number = table.column("numeric_value").to_numpy(zero_copy_only=False)
            txt = table.column("text_value")
            has_text = txt.is_valid().to_numpy(zero_copy_only=False)
            feature = table.column("code")
            if has_text.any():
                import pyarrow.compute as pc
                joined = pc.binary_join_element_wise(feature, txt.cast(pa.string()), "//")
                feature = pc.if_else(txt.is_valid(), joined, feature)
            value = np.where(np.isnan(number), 1.0, number.astype(np.float64))
            long_writer.write_table(pa.table({
                "stay_id": pa.array(subj, pa.int64()), "time": pa.array(t_long, pa.timestamp("us")),
                "feature": feature, "value": pa.array(value, pa.float64())}, schema=long_schema),
                row_group_size=1_000_000)
    long_writer.close()
    pq.write_table(pa.table({"subject_id": pa.array(subject_ids, pa.int64()),
                             "split": pa.array(split, pa.string())}),
                   data / "metadata" / "subject_splits.parquet")
    pq.write_table(pa.table({"code": pa.array(sorted(codes), pa.string())}),
                   data / "metadata" / "codes.parquet")
    (data / "metadata" / "dataset.json").write_text(json.dumps(
        {"dataset_name": "medfuse-sk meds_scale", "dataset_version": f"seed {seed}"}))
    for task, tables in (("task_48h", labels_48h), ("task_all", labels_all)):
        (work / task).mkdir(exist_ok=True)
        pq.write_table(pa.concat_tables(tables), work / task / "labels.parquet")
    info = {**want, "n_rows": n_rows, "n_subjects": int(len(sizes)), "n_shards": n_shards,
            "n_codes": len(codes), "n_samples_48h": int(sum(t.num_rows for t in labels_48h)),
            "generate_seconds": round(time.perf_counter() - started, 1)}
    manifest.write_text(json.dumps(info, indent=2))
    return info


# ---------------------------------------------------------------------------------------------
# the measured steps (each in its own process)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tokenize(event_set) -> tuple[float, int, int]:
    """Seconds, tokens, and the minor page faults of the process meanwhile (memory the
    process touched for the first time)."""
    from medfuse_sk.data import EventTokenizer

    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokens = EventTokenizer(max_tokens=None).fit(event_set).transform(event_set)
    return (time.perf_counter() - start, int(tokens.n_rows),
            resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)


def child(step: str, work: Path) -> dict:
    """Run one step; the numbers it returns are printed as one JSON line."""
    import medfuse_sk  # noqa: F401  (imports counted in the baseline, not in the steps)

    out: dict = {"step": step, "baseline_rss_mb": round(_rss_mb(), 1)}
    if step.startswith("meds_") and step != "meds_reader":
        from medfuse_sk.datasets.meds import load_meds

        task = work / ("task_48h" if step == "meds_48h" else "task_all")
        start = time.perf_counter()
        cohort = load_meds(work / "MEDS", task, split="all", n_jobs=1 if step.endswith("1job") else 2,
                           lookback=48 if step == "meds_48h" else None, exclude=())
        out["read_and_samples_s"] = time.perf_counter() - start
        event_set = cohort.to_event_set()
        out["rss_after_samples_mb"] = round(_rss_mb(), 1)
        out["n_samples"] = len(event_set)
        out["n_events_out"] = int(event_set.n_rows)
        out["n_rows_read"] = int(cohort.report["n_rows_read"])
        del cohort
    elif step == "long":
        from medfuse_sk.data import EventSet
        from medfuse_sk.io import read_table

        start = time.perf_counter()
        table = read_table(work / "long.parquet", "events")
        out["read_s"] = time.perf_counter() - start
        out["rss_after_read_mb"] = round(_rss_mb(), 1)
        start = time.perf_counter()
        event_set = EventSet.from_long(table)
        out["samples_s"] = time.perf_counter() - start
        out["read_and_samples_s"] = out["read_s"] + out["samples_s"]
        del table
        out["rss_after_samples_mb"] = round(_rss_mb(), 1)
        out["n_samples"] = len(event_set)
        out["n_events_out"] = int(event_set.n_rows)
        out["n_rows_read"] = out["n_events_out"]
    elif step == "meds_reader":
        out.update(_meds_reader(work))
        return out
    else:
        raise SystemExit(f"unknown step {step!r}")
    out["tokenize_s"], out["n_tokens"], out["tokenize_page_faults"] = _tokenize(event_set)
    out["main_process_peak_rss_mb"] = round(_rss_mb(), 1)
    # the same again, in memory the process has already touched: what is left of a gap
    # between the paths is the tokenizer's, not first-touch page faults
    out["tokenize_again_s"], _, out["tokenize_again_page_faults"] = _tokenize(event_set)
    return out


def _reader_read(subjects):
    """meds-reader worker: every event of the subjects into arrays (what a reader must give)."""
    n = 0
    vocab: dict[str, int] = {}
    for subject in subjects:
        events = subject.events
        times = np.array([e.time for e in events], dtype="datetime64[us]")
        codes = np.array([vocab.setdefault(e.code, len(vocab)) for e in events], dtype=np.int32)
        values = np.array([e.numeric_value for e in events], dtype=np.float32)  # None -> nan
        n += len(times)
        del codes, values
    return n


def _reader_samples(pairs):
    """meds-reader worker: each sample's events within 48 h up to its prediction time."""
    n_events, n_samples = 0, 0
    look = np.timedelta64(48, "h")
    for subject, rows in pairs:
        times = np.array([e.time if e.time is not None else np.datetime64("NaT") for e in subject.events],
                         dtype="datetime64[us]")
        for row in rows:
            pt = np.datetime64(row.prediction_time, "us")
            ok = (times <= pt) & (times >= pt - look)
            n_events += int(ok.sum())
            n_samples += 1
    return n_events, n_samples


def _meds_reader(work: Path) -> dict:
    import meds_reader
    import pandas as pd

    out: dict = {}
    db_dir = work / "meds_reader_db"
    if db_dir.exists():
        import shutil
        shutil.rmtree(db_dir)
    start = time.perf_counter()
    subprocess.run(["meds_reader_convert", str(work / "MEDS"), str(db_dir), "--num_threads", "2"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ,
                        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    out["convert_s"] = time.perf_counter() - start
    with meds_reader.SubjectDatabase(str(db_dir), num_threads=2) as database:
        start = time.perf_counter()
        out["n_rows_read"] = int(sum(database.map(_reader_read)))
        out["read_s"] = time.perf_counter() - start
        labels = pd.read_parquet(work / "task_48h" / "labels.parquet")
        start = time.perf_counter()
        results = list(database.map_with_data(_reader_samples, labels))
        out["samples_s"] = time.perf_counter() - start
        out["n_events_out"] = int(sum(r[0] for r in results))
        out["n_samples"] = int(sum(r[1] for r in results))
    out["read_and_samples_s"] = out["read_s"] + out["samples_s"]
    out["main_process_peak_rss_mb"] = round(_rss_mb(), 1)
    return out


# ---------------------------------------------------------------------------------------------
# the driver


def _measure(step: str, work: Path) -> dict:
    """Run ``step`` in a child process, sampling its process tree's resident memory."""
    import psutil

    command = [sys.executable, __file__, "--child", step, "--work", str(work)]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0.0]
    done = threading.Event()

    def sample():
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                members = [root, *root.children(recursive=True)]
                total = 0
                for p in members:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak[0] = max(peak[0], total / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    started = time.perf_counter()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    thread.join()
    if proc.returncode != 0:
        raise RuntimeError(f"step {step} failed ({proc.returncode}):\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["tree_peak_rss_mb"] = round(peak[0], 1)
    result["wall_s"] = round(wall, 1)
    return result


def _table(rows: list[dict], n_events: int) -> str:
    def rate(seconds):
        return f"{n_events / seconds / 1e6:8.2f}" if seconds else "       —"

    head = (f"{'step':<14}{'read+samples s':>15}{'M ev/s':>9}{'tokens s':>10}{'M ev/s':>9}"
            f"{'tree peak GB':>14}{'B/event':>9}{'main-base B/ev':>16}{'events out':>13}")
    lines = [head, "-" * len(head)]
    for r in rows:
        tok = r.get("tokenize_s")
        above = (r["main_process_peak_rss_mb"] - r["baseline_rss_mb"]) * 2**20 / n_events
        lines.append(f"{r['step']:<14}{r['read_and_samples_s']:>15.1f}{rate(r['read_and_samples_s'])}"
                     f"{(f'{tok:10.1f}' if tok else '         —')}{rate(tok)}"
                     f"{r['tree_peak_rss_mb'] / 1024:>14.2f}{r['tree_peak_rss_mb'] * 2**20 / n_events:>9.0f}"
                     f"{above:>16.0f}{r['n_events_out']:>13,}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--shard-events", type=int, default=2_500_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/meds_scale"))
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.work)))
        return

    args.work.mkdir(parents=True, exist_ok=True)
    info = generate(args.work, args.events, args.shard_events, args.seed)
    n = info["n_rows"]
    print(f"{n:,} events ({info['n_subjects']:,} subjects, {info['n_shards']} shards, {info['n_codes']:,} "
          f"codes; generated in {info['generate_seconds']} s) in {args.work}", flush=True)
    rows = []
    for step in args.steps:
        print(f"  {step} ...", flush=True)
        rows.append(_measure(step, args.work))
        print(f"    {json.dumps(rows[-1])}", flush=True)
    long_row = next((r for r in rows if r["step"] == "long"), None)
    target_mb = 4 * BYTES_PER_EVENT * n / 2**20
    for r in rows:
        r["events_per_s_read_and_samples"] = round(n / r["read_and_samples_s"])
        if r.get("tokenize_s"):
            r["events_per_s_tokenize"] = round(n / r["tokenize_s"])
        r["peak_bytes_per_event"] = round(r["tree_peak_rss_mb"] * 2**20 / n, 1)
        r["main_above_baseline_bytes_per_event"] = round(
            (r["main_process_peak_rss_mb"] - r["baseline_rss_mb"]) * 2**20 / n, 1)
        # meds-reader's workers return counts, not the events: its memory is not comparable
        comparable = r["step"] != "meds_reader"
        r["memory_target_met"] = bool(r["tree_peak_rss_mb"] < target_mb) if comparable else None
        if long_row is not None and r is not long_row:
            r["not_slower_than_long"] = {
                "read_and_samples": bool(r["read_and_samples_s"] <= long_row["read_and_samples_s"]),
                **({"tokenize": bool(r["tokenize_s"] <= long_row["tokenize_s"] * 1.10)}
                   if r.get("tokenize_s") else {})}
    if long_row is not None:  # the paths read the same events: the same counts come out
        for r in rows:
            if r["step"] in ("meds_all", "meds_all_1job"):
                r["same_events_as_long_table"] = bool(r["n_events_out"] == long_row["n_events_out"]
                                                      and r["n_tokens"] == long_row["n_tokens"])
    print(_table(rows, n))
    print(f"memory target (issue 21): < 4 x {BYTES_PER_EVENT} B x {n:,} events = {target_mb / 1024:.2f} GB")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "command": "nice -n 5 python " + " ".join([sys.argv[0], *sys.argv[1:]]),
            "dataset": info, "memory_target_mb": round(target_mb, 1), "steps": rows,
            "machine": {"cpus": os.cpu_count(), "memory_gb": round(
                os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                "platform": platform.platform(), "python": platform.python_version()},
            "note": ("events/s are the dataset's rows per second of each step; the tree peak is the "
                     "sampled sum of resident memory over the step's processes, interpreter and "
                     "imports (baseline_rss_mb) included; other helpers shared the 2 cores"),
        }, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
