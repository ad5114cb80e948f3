"""`medfuse explain MODEL_DIR EVENTS --out DIR`: the positionals and column options of the other
commands, safe model folders, pickles only when asked."""

import json
import os
import pickle

import numpy as np
import pandas as pd
import pytest
from synthetic import cut_sample

from medfuse_sk.cli import main

pytest.importorskip("captum")


def _error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("medfuse explain: error: ") and err.count("\n") == 1, err
    return err


class _Touch:
    """A pickle payload: unpickling it runs ``os.system("touch MARKER")``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_explains_a_model_folder_with_the_columns_it_was_fitted_with(files, fitted_dir, tmp_path):
    from medfuse_sk.io import load_model

    out = tmp_path / "explained"
    # no column options: the model's own names (icustay, variable) apply, as in predict
    assert main(["explain", str(fitted_dir), str(files / "held_out.parquet"), "--out", str(out),
                 "--max-stays", "4", "--plot", "1", "--features", "--quiet"]) == 0
    stays = pd.read_csv(out / "stays.csv", index_col=0)
    events = pd.read_parquet(files / "held_out.parquet")
    expected = load_model(fitted_dir).predict_risk(events).iloc[:4]
    np.testing.assert_array_equal(stays.index, expected.index)
    np.testing.assert_allclose(stays["risk"], expected.to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(stays["attribution_sum"], stays["logit"] - stays["baseline_logit"],
                               atol=0.01)
    assert json.loads((out / "summary.json").read_text())["n_stays"] == 4
    assert {p.name for p in out.glob("stay_*.png")} == {f"stay_{stays['risk'].idxmax()}.png"}


def test_column_options_and_reader_errors_are_the_other_commands(files, fitted_dir, tmp_path,
                                                                 capsys):
    events = pd.read_parquet(files / "held_out.parquet").rename(columns={"variable": "item"})
    renamed = tmp_path / "renamed.csv"
    events.to_csv(renamed, index=False)
    out = str(tmp_path / "out")
    err = _error(["explain", str(fitted_dir), str(renamed), "--out", out], capsys)
    assert f"events file {renamed}: no column 'variable' (the feature column, set with " \
           "--feature)" in err
    assert main(["explain", str(fitted_dir), str(renamed), "--out", out, "--feature", "item",
                 "--max-stays", "2", "--plot", "0", "--features", "--quiet"]) == 0
    assert pd.read_csv(tmp_path / "out" / "stays.csv").shape[0] == 2
    err = _error(["explain", str(fitted_dir), str(tmp_path / "nope.csv"), "--out", out], capsys)
    assert "events file" in err and "nope.csv: not found" in err
    err = _error(["explain", str(fitted_dir), "--out", out], capsys)
    assert "give MODEL_DIR and EVENTS (or --sample" in err


def test_a_pickle_is_refused_unopened_unless_allowed(files, tmp_path, capsys, monkeypatch):
    marker = tmp_path / "pwned"
    payload = tmp_path / "model.pkl"
    payload.write_bytes(pickle.dumps(_Touch(marker)))
    events, out = str(files / "held_out.parquet"), str(tmp_path / "out")

    opened = []
    real_load = pickle.load
    monkeypatch.setattr(pickle, "load", lambda fh, *a, **k: opened.append(fh) or real_load(fh))
    err = _error(["explain", str(payload), events, "--out", out], capsys)
    assert f"model {payload}: not a model folder; a pickle runs code when loaded, so it is " \
           "opened only with --allow-pickle" in err
    assert opened == [] and not marker.exists()

    # the positive control: the payload is live, and --allow-pickle does open it (with a warning)
    with pytest.raises((Exception, SystemExit)):  # the unpickled int is no model
        main(["explain", str(payload), events, "--out", out, "--allow-pickle"])
    assert len(opened) == 1 and marker.exists()
    assert "warning: loading the pickle" in capsys.readouterr().err


def test_a_pickle_of_a_model_loads_with_the_flag(files, fitted_dir, tmp_path):
    from medfuse_sk.io import load_model

    model = load_model(fitted_dir)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    out = tmp_path / "out"
    assert main(["explain", str(path), str(files / "held_out.parquet"), "--out", str(out),
                 "--allow-pickle", "--max-stays", "2", "--plot", "0", "--features",
                 "--quiet"]) == 0
    assert pd.read_csv(out / "stays.csv").shape[0] == 2


@pytest.mark.slow
def test_sample_mode_trains_a_quick_model(tmp_path):
    out = tmp_path / "out"
    assert main(["explain", "--sample", "--out", str(out), "--epochs", "1",
                 "--max-stays", "30"]) == 0
    assert pd.read_csv(out / "stays.csv").shape[0] == 30


def test_sample_mode_on_a_cut_sample(tmp_path, monkeypatch):
    """The --sample path, fast: the bundled sample cut to 150 training and 40 held-out stays."""
    cut_sample(monkeypatch, 150, 40)
    out = tmp_path / "out"
    assert main(["explain", "--sample", "--out", str(out), "--epochs", "1",
                 "--max-stays", "10", "--quiet"]) == 0
    stays = pd.read_csv(out / "stays.csv")
    assert stays.shape[0] == 10 and (out / "attributions.csv").exists()


def test_chosen_stays_and_features_get_their_figures(files, fitted_dir, tmp_path):
    out = tmp_path / "figures"
    events = pd.read_parquet(files / "held_out.parquet")
    chosen = int(events["icustay"].drop_duplicates().iloc[3])
    assert main(["explain", str(fitted_dir), str(files / "held_out.parquet"), "--out", str(out),
                 "--max-stays", "4", "--plot", "0", "--plot-stay", str(chosen),
                 "--features", "HR", "Temp", "--quiet"]) == 0
    written = {p.name for p in out.glob("*.png")}
    assert f"stay_{chosen}.png" in written and not any(
        n.startswith("stay_") and n != f"stay_{chosen}.png" for n in written)
    assert {"feature_response.png", "attribution_vs_value.png"} <= written
    table = pd.read_csv(out / "attributions.csv")
    assert {"HR", "Temp"} <= set(table["feature"])  # the figures had their features' tokens
