"""The MEDS-DEV model entry (``meds_dev/medfuse/``): its contract checked in the default suite, and,
marked slow, its commands run as MEDS-DEV runs them, in a virtualenv built from its own
``requirements.txt``, on a dataset from meds-testing-helpers' generator."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("omegaconf").OmegaConf

ROOT = Path(__file__).resolve().parents[3]
ENTRY = ROOT / "meds_dev" / "medfuse"
PLACEHOLDERS = {"dataset_dir", "labels_dir", "output_dir", "model_initialization_dir", "split", "demo"}
#: Wheels downloaded for the entry's virtualenv, reused by later runs.
WHEEL_CACHE = Path(os.environ.get("MEDFUSE_WHEEL_CACHE", Path.home() / ".cache" / "medfuse_sk" / "wheels"))
TORCH = "torch==2.13.0"  # the CPU build lies in the machine's find-links folder and wins the tie


def _entry():
    return yaml.to_container(yaml.load(ENTRY / "model.yaml"))


def _fill(template: str, **values) -> str:
    """What MEDS-DEV's ``fmt_command`` does: ``str.format`` with the run's values."""
    return template.format(**values)


def test_the_entry_follows_the_meds_dev_model_contract():
    assert {p.name for p in ENTRY.iterdir()} >= {"model.yaml", "requirements.txt", "README.md"}
    entry = _entry()
    assert set(entry) == {"metadata", "commands"}
    meta = entry["metadata"]
    assert isinstance(meta["description"], str) and "PyHealth" in meta["description"]
    assert meta["contacts"] and all(isinstance(c["name"], str) for c in meta["contacts"])
    assert isinstance(meta.get("links", []), list)
    supervised = entry["commands"]["supervised"]
    assert set(supervised) == {"train", "predict"}
    used = set()
    for command in supervised.values():
        used |= set(re.findall(r"{(\w+)}", command))
    assert used == PLACEHOLDERS
    # every placeholder is filled by str.format, and nothing else is taken for one
    filled = {k: _fill(v, **{p: f"<{p}>" for p in PLACEHOLDERS}) for k, v in supervised.items()}
    assert "medfuse fit --meds \"<dataset_dir>\" --task \"<labels_dir>\"" in filled["train"]
    assert "--out \"<output_dir>/predictions.parquet\"" in filled["predict"]
    assert "\"<model_initialization_dir>/model\"" in filled["predict"]


def test_the_requirement_reads_medfuse_sk_from_the_path_in_an_environment_variable():
    lines = [ln.strip() for ln in (ENTRY / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines == ["medfuse-sk[meds] @ file://${MEDFUSE_SK_SOURCE}"]


def test_the_commands_parse_as_medfuse_options():
    """The filled commands name only options the medfuse command line has."""
    from medfuse_sk.cli import build_parser

    parser = build_parser()
    values = {p: f"/x/{p}" for p in PLACEHOLDERS} | {"demo": "True", "split": "held_out"}
    for name, template in _entry()["commands"]["supervised"].items():
        line = _fill(template, **values).replace("\\\n", " ")
        medfuse = next(ln for ln in line.splitlines() if ln.strip().startswith("medfuse "))
        words = [w.strip('"') for w in medfuse.split()[1:] if w != "$MEDFUSE_DEMO"]
        args = parser.parse_args(words)
        assert args.meds == "/x/dataset_dir" and args.task == "/x/labels_dir", name


# --------------------------------------------------------------------------------------------
# slow: the virtualenv, the generated dataset, the commands


def _copy_tree(dest: Path) -> Path:
    """The checkout's files (tracked and new, not ignored) copied, to build a wheel away from it."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def _pip(venv: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", *args], capture_output=True,
                          text=True, env=env)


def _build_venv(tmp: Path) -> Path:
    dist = tmp / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-w", str(dist), str(_copy_tree(tmp / "src"))], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(dist.glob("medfuse_sk-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    constraints = tmp / "constraints.txt"
    constraints.write_text(f"{TORCH}\n")
    env = {**os.environ, "MEDFUSE_SK_SOURCE": str(wheel)}
    install = ["install", "--quiet", "-r", str(ENTRY / "requirements.txt"), "-c", str(constraints)]
    done = _pip(venv, *install, "--no-index", "--find-links", str(WHEEL_CACHE), env=env)
    if done.returncode != 0:  # first run, or new dependencies: fill the cache from the registry
        WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
        # `pip wheel`, not `pip download`: source-only packages are built once, so that later
        # offline installs need no build dependencies
        fetched = _pip(venv, "wheel", "--quiet", "-w", str(WHEEL_CACHE), "-r",
                       str(ENTRY / "requirements.txt"), "-c", str(constraints), env=env)
        assert fetched.returncode == 0, fetched.stderr[-3000:]
        for stale in [*WHEEL_CACHE.glob("medfuse_sk-*"), *WHEEL_CACHE.glob("*.tar.gz")]:
            stale.unlink()
        done = _pip(venv, *install, "--no-index", "--find-links", str(WHEEL_CACHE), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (venv / "bin" / "medfuse").is_file()
    return venv


def _sample_task(dataset: Path, labels_dir: Path) -> "object":
    """A binary task on the generated data: at each subject's 4th timed event, will a
    ``dynamic//3`` follow? One label file per split, as ACES writes them."""
    import polars as pl

    data = pl.read_parquet(dataset / "data" / "**" / "*.parquet").filter(pl.col("time").is_not_null())
    data = data.sort("subject_id", "time").with_columns(n=pl.int_range(pl.len()).over("subject_id"))
    at = data.filter(pl.col("n") == 3).select("subject_id", prediction_time=pl.col("time"))
    later = (data.join(at, on="subject_id").filter((pl.col("time") > pl.col("prediction_time"))
                                                   & (pl.col("code") == "dynamic//3"))
             .select("subject_id").unique().with_columns(boolean_value=pl.lit(True)))
    labels = (at.join(later, on="subject_id", how="left")
              .with_columns(pl.col("boolean_value").fill_null(False)))
    splits = pl.read_parquet(dataset / "metadata" / "subject_splits.parquet")
    labels = labels.join(splits, on="subject_id")
    for (split,), part in labels.group_by("split"):
        (labels_dir / split).mkdir(parents=True, exist_ok=True)
        part.drop("split").write_parquet(labels_dir / split / "0.parquet")
    return labels


def _run_like_meds_dev(command: str, output_dir: Path, venv: Path) -> None:
    """MEDS-DEV's ``run_in_env``: the command in a bash script with ``set -e``, in the venv."""
    output_dir.mkdir(parents=True, exist_ok=True)
    script = output_dir / "cmd.sh"
    script.write_text("\n".join(["#!/bin/bash", "set -e", command]))
    env = {**os.environ, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


@pytest.mark.slow
def test_the_entry_trains_and_predicts_in_its_own_virtualenv(tmp_path):
    pytest.importorskip("meds_testing_helpers")
    import polars as pl

    venv = _build_venv(tmp_path)
    dataset = tmp_path / "dataset"
    generator = Path(sys.executable).parent / "build_sample_MEDS_dataset"
    subprocess.run([str(generator), "N_subjects=300", f"output_dir={dataset}"], check=True,
                   capture_output=True, cwd=tmp_path)
    labels_dir = tmp_path / "labels" / "dynamic3"
    labels = _sample_task(dataset, labels_dir)
    held_out = labels.filter(pl.col("split") == "held_out")
    assert held_out.height > 5 and labels["boolean_value"].n_unique() == 2

    commands = _entry()["commands"]["supervised"]
    train_dir, predict_dir = tmp_path / "run" / "train", tmp_path / "run" / "predict"
    values = {"dataset_dir": dataset, "labels_dir": labels_dir, "demo": True, "split": "held_out"}
    _run_like_meds_dev(_fill(commands["train"], output_dir=train_dir, **values), train_dir, venv)
    assert (train_dir / "model" / "meds.json").is_file()
    _run_like_meds_dev(_fill(commands["predict"], output_dir=predict_dir,
                             model_initialization_dir=train_dir, **values), predict_dir, venv)

    predictions = pl.read_parquet(predict_dir / "predictions.parquet")
    assert predictions.schema["predicted_boolean_probability"] == pl.Float64
    assert predictions.schema["predicted_boolean_value"] == pl.Boolean
    got = predictions.select("subject_id", "prediction_time", "boolean_value").sort("subject_id")
    assert got.equals(held_out.select("subject_id", "prediction_time", "boolean_value").sort("subject_id"))
    assert predictions["predicted_boolean_probability"].is_between(0, 1).all()
    scored = tmp_path / "scored.json"
    cli = Path(sys.executable).parent / "meds-evaluation-cli"
    done = subprocess.run([str(cli), f"predictions_path={predict_dir / 'predictions.parquet'}",
                           f"output_file={scored}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(scored.read_text())["samples_equally_weighted"]
    assert 0 <= result["roc_auc_score"] <= 1 and "average_precision_score" in result
