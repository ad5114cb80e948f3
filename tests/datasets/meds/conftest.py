"""MEDS fixtures: a random dataset with its task (written once per session), and the
meds-testing-helpers fixtures (``simple_static_MEDS_dataset_with_task``, ``generated_sample_MEDS``)
that its pytest plugin provides."""

import subprocess
import sys
from pathlib import Path

import pytest
from meds_toy import random_dataset, write_dataset


@pytest.fixture(scope="session")
def random_meds(tmp_path_factory):
    """(data_dir, task_dir, rows, labels, splits): 40 subjects in 2 shards, 3 prediction times
    each, numbers, text and bare rows of the same codes, static rows, a birth."""
    rows, labels, splits = random_dataset(n_subjects=40, seed=0)
    data, task = write_dataset(tmp_path_factory.mktemp("random_meds"), rows, labels, splits)
    return data, task, rows, labels, splits


@pytest.fixture(scope="session")
def static_task(simple_static_MEDS_dataset_with_task):
    """meds-testing-helpers' static sample dataset and its boolean task folder."""
    root = simple_static_MEDS_dataset_with_task
    return root, root / "task_labels" / "boolean_value_task"


@pytest.fixture(scope="session")
def generated_meds(tmp_path_factory):
    """A MEDS dataset of 60 subjects from meds-testing-helpers' generator (the command its
    ``generated_sample_MEDS`` fixture runs, with fewer subjects than that fixture's 500)."""
    out = tmp_path_factory.mktemp("generated") / "MEDS"
    command = Path(sys.executable).with_name("build_sample_MEDS_dataset")
    subprocess.run([str(command), "seed=1", "N_subjects=60", "do_overwrite=False",
                    f"output_dir={out}", "dataset_spec/data_generator=sample"], check=True,
                   capture_output=True)
    return out
