"""The field's MEDS tools, run from Python: the eICU ETL (``eicu-meds``) and ACES task extraction.

Both run the tools' own command-line programs in subprocesses, as a user would, with the
configurations shipped in ``medfuse_sk/datasets/meds/configs/`` (:func:`shipped_config`):

- ``eicu_demo_event_configs.yaml``: eicu-meds' event configuration without the two tables the
  public eICU demo lacks (``lab``, ``vitalPeriodic``); its header says which signals are absent.
- ``mortality_in_hospital_48h.yaml``: the MedFuse paper's task for ACES, in-hospital mortality
  predicted at 48 h after the first ICU admission.

:func:`run_eicu_etl` turns raw eICU tables into a MEDS dataset (never downloading anything);
:func:`run_aces` cuts a task's labels out of a MEDS dataset, in the layout ``--task`` reads;
:func:`prepare_eicu_mortality` does both. Each returns a report of what it did.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ...utils import examples, install_hint

__all__ = [
    "EICU_DEMO_EVENT_CONFIG",
    "EICU_DEMO_SKIPPED_TABLES",
    "MORTALITY_48H_TASK",
    "PipelineError",
    "PipelineRun",
    "config_tables",
    "prepare_eicu_mortality",
    "run_aces",
    "run_eicu_etl",
    "shipped_config",
]

#: The shipped eICU event configuration for the public demo (two tables skipped).
EICU_DEMO_EVENT_CONFIG = "eicu_demo_event_configs.yaml"
#: The shipped ACES task: in-hospital mortality after 48 h in the ICU (the paper's task).
MORTALITY_48H_TASK = "mortality_in_hospital_48h.yaml"
#: The tables eicu-meds reads that the public eICU demo (2.0.1, as found here) lacks, and what
#: their absence removes from the data.
EICU_DEMO_SKIPPED_TABLES: dict[str, str] = {
    "lab": "every laboratory value (LAB//RESULT//*, LAB//SPECIMEN_DRAWN//*)",
    "vitalPeriodic": ("heart rate, SaO2, respiratory rate, temperature, CVP, EtCO2, invasive and "
                      "pulmonary-artery blood pressures, ST segments, ICP (VITALS//PERIODIC//*)"),
}

_RAW_SUFFIXES = (".csv.gz", ".csv", ".parquet")
_LABEL_VALUE_COLUMNS = ("boolean_value", "integer_value", "float_value", "categorical_value")
_LOG_TAIL = 3000


class PipelineError(RuntimeError):
    """A MEDS tool (ETL, ACES) failed or wrote what the MEDS schemas reject."""


@dataclass
class PipelineRun:
    """What one pipeline step wrote and what it found.

    Attributes
    ----------
    path : pathlib.Path
        The MEDS dataset folder (ETL) or the task folder holding the label shards (ACES).
    report : dict
        Counts (rows, subjects, samples and positives per split, ...), the configuration used,
        the tables skipped, the seconds taken and the command lines run.
    """

    path: Path
    report: dict[str, Any] = field(default_factory=dict)


def shipped_config(name: str) -> Path:
    """The path of a configuration shipped in ``medfuse_sk/datasets/meds/configs/``.

    Parameters
    ----------
    name : str
        The file name, e.g. :data:`EICU_DEMO_EVENT_CONFIG` or :data:`MORTALITY_48H_TASK`.
    """
    folder = resources.files(__package__).joinpath("configs")
    path = Path(str(folder.joinpath(name)))
    if not path.is_file():
        available = sorted(p.name for p in Path(str(folder)).iterdir() if p.suffix == ".yaml")
        raise FileNotFoundError(f"no shipped MEDS configuration {name!r}; shipped: {', '.join(available)}")
    return path


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        from omegaconf import OmegaConf
    except ImportError as err:  # pragma: no cover - omegaconf comes with es-aces
        raise ImportError(f"reading {path} needs omegaconf: {install_hint('meds')}") from err
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def config_tables(event_config: str | os.PathLike) -> list[str]:
    """The raw tables an eICU (MEDS-Extract "MESSY") event configuration reads.

    Every top-level block is a table, except ``_defaults`` and ``sources``; tables joined in
    (``_table: join:``) and metadata tables (``_metadata:``) are read too.
    """
    config = _load_yaml(Path(event_config))
    tables: list[str] = []

    def add(name: str) -> None:
        if name not in tables:
            tables.append(name)

    for name, block in config.items():
        if name.startswith("_") or name == "sources" or not isinstance(block, Mapping):
            continue
        add(name)
        for joined in (block.get("_table") or {}).get("join", {}) or {}:
            add(joined)
        for event in block.values():
            if isinstance(event, Mapping):
                for meta in event.get("_metadata", {}) or {}:
                    add(meta)
    return tables


def _find_table(folder: Path, table: str) -> Path | None:
    for suffix in _RAW_SUFFIXES:
        if (folder / f"{table}{suffix}").exists():
            return folder / f"{table}{suffix}"
    return None


def _console_script(name: str, extra: str) -> str:
    """A console script of this environment (beside ``sys.executable``), else from ``PATH``."""
    here = Path(sys.executable).parent / name
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which(name)
    if found:
        return found
    raise PipelineError(f"the program {name!r} is not installed in this environment "
                        f"({sys.executable}): {install_hint(extra)}")


def _run(command: Sequence[str], *, env: Mapping[str, str] | None, log: Path, what: str) -> float:
    """Run ``command``, its output appended to ``log``; raise naming the step and the log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    run_env = {**os.environ, **(env or {})}
    # the tools start their own console scripts: find them in this environment first
    run_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), run_env.get("PATH", "")])
    start = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(list(command), env=run_env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-_LOG_TAIL:]
        raise PipelineError(f"{what} failed (exit code {done.returncode}); its output is in {log}. "
                            f"Last lines:\n{tail}")
    return seconds


def _meds_counts(meds_dir: Path) -> dict[str, Any]:
    """Rows, subjects, deaths, codes and split sizes of a MEDS dataset (read column by column)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows = deaths = 0
    subjects: set[int] = set()
    codes: set[str] = set()
    shards = sorted((meds_dir / "data").glob("**/*.parquet"))
    for shard in shards:
        table = pq.read_table(shard, columns=["subject_id", "code"])
        rows += table.num_rows
        subjects.update(pc.unique(table["subject_id"]).to_pylist())
        unique_codes = pc.unique(table["code"]).to_pylist()
        codes.update(unique_codes)
        deaths += int(pc.sum(pc.equal(table["code"], "MEDS_DEATH")).as_py() or 0)
    splits: dict[str, int] = {}
    split_file = meds_dir / "metadata" / "subject_splits.parquet"
    if split_file.is_file():
        for name in pq.read_table(split_file, columns=["split"])["split"].to_pylist():
            splits[name] = splits.get(name, 0) + 1
    return {"rows": rows, "subjects": len(subjects), "codes": len(codes), "meds_death": deaths,
            "shards": len(shards), "subject_splits": dict(sorted(splits.items()))}


def run_eicu_etl(
    raw_dir: str | os.PathLike,
    meds_dir: str | os.PathLike,
    *,
    event_config: str | os.PathLike | None = None,
    pre_meds_dir: str | os.PathLike | None = None,
    n_workers: int = 1,
    overwrite: bool = False,
    demo: bool = True,
) -> PipelineRun:
    """Raw eICU-CRD tables → a MEDS dataset, with the ``eicu-meds`` ETL. Nothing is downloaded.

    The steps are eicu-meds' own (``MEDS_extract-eICU`` with ``do_download=False``): its pre-MEDS
    step (links the raw tables, builds the diagnosis → ICD map), then ``MEDS_transform-pipeline``
    on its ``configs/ETL.yaml`` with the chosen event configuration.

    Parameters
    ----------
    raw_dir : path
        The folder holding the raw ``*.csv.gz`` tables (e.g. the eICU demo).
    meds_dir : path
        Where the MEDS dataset is written (``data/``, ``metadata/``, and the ETL's stage folders).
    event_config : path, optional
        The event configuration. By default eicu-meds' own when every table it reads is present,
        else the shipped :data:`EICU_DEMO_EVENT_CONFIG` when only the demo's two missing tables
        (:data:`EICU_DEMO_SKIPPED_TABLES`) are absent — with a warning naming them and the signals
        lost. Any other missing table is an error naming it.
    pre_meds_dir : path, optional
        Where the pre-MEDS step links the raw tables (default ``<meds_dir>/../<name>_pre_MEDS``).
    n_workers : int, default 1
        Processes of the ETL's stages (``N_WORKERS``); 1 runs them in series.
    overwrite : bool, default False
        Write into a ``meds_dir`` that already holds a dataset (its stage outputs are replaced).
    demo : bool, default True
        Stamp ``dataset.json`` with the demo's version (2.0.1) rather than the full release's.

    Returns
    -------
    PipelineRun
        ``path`` is ``meds_dir``; ``report`` holds rows, subjects, codes, ``MEDS_DEATH`` rows,
        split sizes, the configuration, the tables skipped and the seconds taken.
    """
    try:
        import eICU_MEDS
        from eICU_MEDS.pre_MEDS import main as pre_meds
    except ImportError as err:
        raise ImportError(f"the eICU ETL needs eicu-meds: {install_hint('meds', 'eicu')}") from err

    raw_dir, meds_dir = Path(raw_dir), Path(meds_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"raw eICU folder {raw_dir} does not exist")
    if int(n_workers) < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers!r}")
    if (meds_dir / "data").exists() and not overwrite:
        raise FileExistsError(f"{meds_dir} already holds a MEDS dataset (data/); pass overwrite=True "
                              "or choose another folder")
    pre_meds_dir = (Path(pre_meds_dir) if pre_meds_dir is not None
                    else meds_dir.parent / f"{meds_dir.name}_pre_MEDS")
    start = time.perf_counter()
    pre_meds(input_dir=raw_dir, output_dir=pre_meds_dir, do_overwrite=overwrite, do_copy=False)

    package_config = Path(str(eICU_MEDS.EVENT_CFG))
    skipped: dict[str, str] = {}
    if event_config is None:
        needed = config_tables(package_config)
        missing = [t for t in needed if _find_table(pre_meds_dir, t) is None]
        if missing and set(missing) <= set(EICU_DEMO_SKIPPED_TABLES):
            event_config = shipped_config(EICU_DEMO_EVENT_CONFIG)
            skipped = {t: EICU_DEMO_SKIPPED_TABLES[t] for t in missing}
            warnings.warn(
                f"{raw_dir} lacks {', '.join(t + '.csv.gz' for t in missing)} (as the public eICU demo "
                f"does): using the shipped configuration {event_config.name}, which skips "
                f"{', '.join(EICU_DEMO_SKIPPED_TABLES)}. Absent from the MEDS data: "
                + "; ".join(f"{t}: {what}" for t, what in EICU_DEMO_SKIPPED_TABLES.items()),
                UserWarning, stacklevel=2)
        else:
            event_config = package_config
    event_config = Path(event_config)
    if not event_config.is_file():
        raise FileNotFoundError(f"event configuration {event_config} does not exist")
    if event_config.resolve() == shipped_config(EICU_DEMO_EVENT_CONFIG).resolve() and not skipped:
        skipped = dict(EICU_DEMO_SKIPPED_TABLES)
    missing = [t for t in config_tables(event_config) if _find_table(pre_meds_dir, t) is None]
    if missing:
        present = sorted(p.name for p in raw_dir.iterdir() if p.name.endswith(_RAW_SUFFIXES))
        raise FileNotFoundError(
            f"{raw_dir} has no table for {', '.join(missing)} (looked for <table>"
            f"{'|'.join(_RAW_SUFFIXES)}), which {event_config} reads; present: {examples(present, 40)}. "
            "Add the files, or copy the configuration and remove those blocks (as "
            f"{EICU_DEMO_EVENT_CONFIG} does for the demo's missing lab and vitalPeriodic).")

    info = eICU_MEDS.dataset_info
    version = info.demo_dataset_version if demo else info.raw_dataset_version
    env = {
        "DATASET_NAME": str(info.dataset_name),
        "DATASET_VERSION": f"{version}:{eICU_MEDS.__version__}",
        "EVENT_CONVERSION_CONFIG_FP": str(event_config.resolve()),
        "PRE_MEDS_DIR": str(pre_meds_dir.resolve()),
        "MEDS_OUTPUT_DIR": str(meds_dir.resolve()),
        "N_WORKERS": str(int(n_workers)),
    }
    command = [_console_script("MEDS_transform-pipeline", "eicu"),
               str(Path(str(eICU_MEDS.ETL_CFG)).resolve()),
               "--overrides", f"output_dir={meds_dir.resolve()}", f"do_overwrite={bool(overwrite)}"]
    if int(n_workers) <= 1:
        command.append("~parallelize")
    log = meds_dir / ".logs" / "medfuse_eicu_etl.log"
    _run(command, env=env, log=log, what=f"the eICU ETL (MEDS_transform-pipeline on {raw_dir})")
    report = {"raw_dir": str(raw_dir), "event_config": str(event_config), "skipped_tables": skipped,
              **_meds_counts(meds_dir), "seconds": round(time.perf_counter() - start, 1),
              "command": " ".join(command), "environment": env, "log": str(log)}
    return PipelineRun(meds_dir, report)


def _quote(value: Any) -> str:
    """A Hydra override value, quoted so that paths with spaces, commas or ``=`` pass."""
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _finalize_labels(shard: Path) -> dict[str, int]:
    """Drop ACES's all-null label columns and validate the shard against ``meds.LabelSchema``."""
    import pyarrow.parquet as pq
    from meds import LabelSchema

    table = pq.read_table(shard)
    empty = [c for c in _LABEL_VALUE_COLUMNS
             if c in table.column_names and table.num_rows and table[c].null_count == table.num_rows]
    kept = [c for c in _LABEL_VALUE_COLUMNS if c in table.column_names and c not in empty]
    if table.num_rows and not kept:
        raise PipelineError(f"{shard}: every label column ({', '.join(_LABEL_VALUE_COLUMNS)}) is null; "
                            "does the task configuration set `label:` on a window?")
    if not table.num_rows:  # an empty shard keeps one value column so the schema stays readable
        empty = [c for c in _LABEL_VALUE_COLUMNS if c in table.column_names and c != "boolean_value"]
    table = table.drop_columns(empty)
    try:
        LabelSchema.validate(table)
    except Exception as err:
        raise PipelineError(f"{shard} does not follow the MEDS label schema: {err}") from err
    pq.write_table(table, shard)
    positive = 0
    if "boolean_value" in table.column_names and table.num_rows:
        positive = int(sum(bool(v) for v in table["boolean_value"].to_pylist()))
    return {"samples": table.num_rows, "positive": positive}


def run_aces(
    meds_dir: str | os.PathLike,
    task_root: str | os.PathLike,
    *,
    config: str | os.PathLike = MORTALITY_48H_TASK,
    task_name: str | None = None,
    overwrite: bool = False,
) -> PipelineRun:
    """Cut a task's labels out of a MEDS dataset with ACES (``aces-cli``), one output per shard.

    Runs ``aces-cli -m data=sharded data.standard=meds ...`` over every shard of
    ``<meds_dir>/data``, then drops the all-null label columns ACES writes (``integer_value``,
    ``float_value``, ``categorical_value`` for a boolean task), which the ``meds`` label schema
    rejects, and validates each shard against ``meds.LabelSchema``.

    Parameters
    ----------
    meds_dir : path
        A MEDS dataset (``data/**/*.parquet``).
    task_root : path
        The tasks folder; the labels go to ``<task_root>/<task_name>/<split>/<shard>.parquet``.
    config : str or path, default :data:`MORTALITY_48H_TASK`
        An ACES task configuration: a path, or the name of a shipped one (:func:`shipped_config`).
    task_name : str, optional
        The task's folder name (default: the configuration's file name without ``.yaml``).
    overwrite : bool, default False
        Replace the labels of an earlier run of the same task.

    Returns
    -------
    PipelineRun
        ``path`` is ``<task_root>/<task_name>`` (what ``--task`` takes); ``report`` holds samples
        and positives per split and in all, the configuration and the seconds taken.
    """
    try:
        from aces.expand_shards import expand_shards
    except ImportError as err:
        raise ImportError(f"task extraction needs ACES: {install_hint('meds')}") from err

    meds_dir, task_root = Path(meds_dir), Path(task_root)
    config_path = Path(config)
    if not config_path.is_file():
        if config_path.parent == Path(".") and config_path.suffix in ("", ".yaml"):
            config_path = shipped_config(config_path.with_suffix(".yaml").name)
        else:
            raise FileNotFoundError(f"ACES task configuration {config} does not exist")
    task_name = task_name or config_path.stem
    data_dir = meds_dir / "data"
    shards = expand_shards(str(data_dir)) if data_dir.is_dir() else ""
    if not shards:
        raise FileNotFoundError(f"{data_dir} holds no parquet shard: is {meds_dir} a MEDS dataset?")
    out = task_root / task_name
    existing = [p for p in out.glob("**/*.parquet") if ".logs" not in p.parts]
    if existing:
        if not overwrite:
            raise FileExistsError(f"{out} already holds labels ({len(existing)} files); pass overwrite=True "
                                  "or choose another task_root")
        for path in existing:
            path.unlink()
    command = [_console_script("aces-cli", "meds"), "-m", "data=sharded", "data.standard=meds",
               f"data.root={_quote(data_dir.resolve())}", f"data.shard={shards}",
               f"cohort_dir={_quote(task_root.resolve())}", f"cohort_name={_quote(task_name)}",
               f"config_path={_quote(config_path.resolve())}"]
    log = out / ".logs" / "medfuse_aces.log"
    seconds = _run(command, env=None, log=log, what=f"ACES ({config_path.name} on {meds_dir})")

    per_split: dict[str, dict[str, int]] = {}
    written = sorted(p for p in out.glob("**/*.parquet") if ".logs" not in p.parts)
    expected = {f"{s}.parquet" for s in shards.split(",")}
    got = {str(p.relative_to(out)) for p in written}
    if got != expected:
        raise PipelineError(f"ACES wrote {sorted(got)} under {out}, expected one file per shard "
                            f"({sorted(expected)}); see {log}")
    for path in written:
        counts = _finalize_labels(path)
        split = path.relative_to(out).parts[0] if len(path.relative_to(out).parts) > 1 else "all"
        into = per_split.setdefault(split, {"samples": 0, "positive": 0})
        into["samples"] += counts["samples"]
        into["positive"] += counts["positive"]
    report = {"config": str(config_path), "task": task_name,
              "samples": sum(c["samples"] for c in per_split.values()),
              "positive": sum(c["positive"] for c in per_split.values()),
              "splits": dict(sorted(per_split.items())), "seconds": round(seconds, 1),
              "command": " ".join(command), "log": str(log)}
    (out / ".logs" / "medfuse_aces_report.json").write_text(json.dumps(report, indent=2))
    return PipelineRun(out, report)


def prepare_eicu_mortality(
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    event_config: str | os.PathLike | None = None,
    task_config: str | os.PathLike = MORTALITY_48H_TASK,
    n_workers: int = 1,
    overwrite: bool = False,
) -> tuple[PipelineRun, PipelineRun]:
    """Raw eICU tables → MEDS (``<out_dir>/MEDS``) → the paper's task (``<out_dir>/tasks/<task>``).

    :func:`run_eicu_etl` then :func:`run_aces`; returns both runs. ``medfuse fit --meds
    <out_dir>/MEDS --task <out_dir>/tasks/mortality_in_hospital_48h`` fits a model on the result.
    """
    out_dir = Path(out_dir)
    etl = run_eicu_etl(raw_dir, out_dir / "MEDS", event_config=event_config, n_workers=n_workers,
                       pre_meds_dir=out_dir / "pre_MEDS", overwrite=overwrite)
    task = run_aces(etl.path, out_dir / "tasks", config=task_config, overwrite=overwrite)
    return etl, task
