"""The shipped MEDS configurations: the eICU demo's event configuration is eicu-meds' own less
exactly the two tables the demo lacks, and the ETL runner picks it, or stops naming what is missing."""

import gzip
import sys
from pathlib import Path

import pytest

pytest.importorskip("omegaconf")
eicu = pytest.importorskip("eICU_MEDS")

from omegaconf import OmegaConf  # noqa: E402

from medfuse_sk.datasets.meds import _pipelines as pipelines  # noqa: E402

SKIPPED = {"lab", "vitalPeriodic"}
DEMO = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "eicu-demo"


def _container(path):
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def test_the_demo_configuration_is_the_package_configuration_less_lab_and_vitalperiodic():
    package = _container(Path(str(eicu.EVENT_CFG)))
    shipped = _container(pipelines.shipped_config(pipelines.EICU_DEMO_EVENT_CONFIG))
    assert set(package) - set(shipped) == SKIPPED == set(pipelines.EICU_DEMO_SKIPPED_TABLES)
    assert set(shipped) - set(package) == set()
    for block in shipped:
        if block != "sources":
            assert shipped[block] == package[block], block
    # the download lists lose exactly the two files, nothing else changes
    for key, sources in package["sources"].items():
        for theirs, ours in zip(sources, shipped["sources"][key], strict=True):
            dropped = set(theirs.get("include", [])) - set(ours.get("include", []))
            assert dropped <= {f"{t}.csv.gz" for t in SKIPPED}
            assert {k: v for k, v in theirs.items() if k != "include"} == \
                   {k: v for k, v in ours.items() if k != "include"}


def test_the_header_names_each_skipped_table_and_the_signals_lost():
    text = pipelines.shipped_config(pipelines.EICU_DEMO_EVENT_CONFIG).read_text()
    header = text.split("\n_defaults:")[0]
    for table in SKIPPED:
        assert f"`{table}`" in header
    for signal in ("heart rate", "SaO2", "respiratory rate", "temperature", "laboratory value"):
        assert signal in header


def test_config_tables_lists_blocks_joined_tables_and_metadata_tables():
    tables = pipelines.config_tables(Path(str(eicu.EVENT_CFG)))
    assert {"patient", "hospital", "lab", "vitalPeriodic", "dx_icd_map", "infusionDrug"} <= set(tables)
    assert "sources" not in tables and "_defaults" not in tables
    shipped = pipelines.config_tables(pipelines.shipped_config(pipelines.EICU_DEMO_EVENT_CONFIG))
    assert set(tables) - set(shipped) == SKIPPED


@pytest.mark.skipif(not DEMO.is_dir(), reason="the eICU demo tables are not in ../shared/data")
def test_every_table_the_demo_configuration_reads_is_in_the_demo_folder():
    names = {p.name for p in DEMO.iterdir()}
    for table in pipelines.config_tables(pipelines.shipped_config(pipelines.EICU_DEMO_EVENT_CONFIG)):
        if table == "dx_icd_map":  # built by eicu-meds' pre-MEDS step
            continue
        assert {f"{table}.csv.gz", f"{table.lower()}.csv.gz"} & names, table
    for table in SKIPPED:
        assert f"{table}.csv.gz" not in names


def _fake_raw(folder: Path, tables) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for table in tables:
        rows = "diagnosisstring,icd9code\na|b,401.9\n" if table == "diagnosis" else "x\n1\n"
        with gzip.open(folder / f"{table}.csv.gz", "wt") as out:
            out.write(rows)
    return folder


def _needed():
    return [t for t in pipelines.config_tables(Path(str(eicu.EVENT_CFG))) if t != "dx_icd_map"]


def test_a_missing_table_beyond_the_demos_two_stops_the_etl_naming_every_missing_one(tmp_path):
    raw = _fake_raw(tmp_path / "raw", [t for t in _needed() if t not in SKIPPED | {"medication"}])
    with pytest.raises(FileNotFoundError, match=r"no table for lab, medication, vitalPeriodic \(") as err:
        pipelines.run_eicu_etl(raw, tmp_path / "MEDS")
    assert "eicu_demo_event_configs.yaml" in str(err.value)  # the way out for the demo's two
    assert not (tmp_path / "MEDS" / "data").exists()


def test_with_the_demo_configuration_only_the_tables_it_reads_are_required(tmp_path):
    raw = _fake_raw(tmp_path / "raw", [t for t in _needed() if t not in SKIPPED | {"medication"}])
    demo = pipelines.shipped_config(pipelines.EICU_DEMO_EVENT_CONFIG)
    with pytest.raises(FileNotFoundError, match=r"no table for medication \(") as err:
        pipelines.run_eicu_etl(raw, tmp_path / "MEDS", event_config=demo)
    assert "lab" not in str(err.value).split("(")[0]


def test_the_demos_two_missing_tables_choose_the_shipped_configuration_with_a_warning(tmp_path, monkeypatch):
    raw = _fake_raw(tmp_path / "raw", [t for t in _needed() if t not in SKIPPED])
    seen = {}

    def fake_run(command, *, env, log, what):
        seen.update(env)
        (tmp_path / "MEDS" / "data").mkdir(parents=True)
        return 0.0

    monkeypatch.setattr(pipelines, "_run", fake_run)
    with pytest.warns(UserWarning, match=r"lacks lab.csv.gz, vitalPeriodic.csv.gz.*heart rate"):
        run = pipelines.run_eicu_etl(raw, tmp_path / "MEDS")
    assert Path(seen["EVENT_CONVERSION_CONFIG_FP"]).name == pipelines.EICU_DEMO_EVENT_CONFIG
    assert seen["DATASET_VERSION"].startswith("2.0.1:")
    assert set(run.report["skipped_tables"]) == SKIPPED


def test_an_existing_dataset_is_not_overwritten_unless_asked(tmp_path):
    (tmp_path / "MEDS" / "data").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        pipelines.run_eicu_etl(_fake_raw(tmp_path / "raw", ["patient"]), tmp_path / "MEDS")


def test_a_failing_tool_raises_with_its_exit_code_and_the_end_of_its_output(tmp_path):
    command = [sys.executable, "-c", "import sys; print('stage convert_to_parquet broke'); sys.exit(3)"]
    with pytest.raises(pipelines.PipelineError, match=r"(?s)exit code 3.*stage convert_to_parquet broke"):
        pipelines._run(command, env=None, log=tmp_path / "x.log", what="the step")
    assert "broke" in (tmp_path / "x.log").read_text()


def test_unknown_shipped_configuration_lists_the_shipped_ones():
    with pytest.raises(FileNotFoundError, match="mortality_in_hospital_48h.yaml"):
        pipelines.shipped_config("nope.yaml")
