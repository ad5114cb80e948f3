import json
from pathlib import Path

import pytest

from medfuse_sk.cli import _parse_setting, build_parser, main

SHARED = Path(__file__).parents[1] / ".." / "shared" / "data" / "physionet2012"
needs_data = pytest.mark.skipif(not SHARED.exists(), reason="shared P12 data not found")


def test_settings_parse_python_literals_and_words():
    assert _parse_setting("window=None") == ("window", None)
    assert _parse_setting("lr=3e-4") == ("lr", 3e-4)
    assert _parse_setting("fusion=add") == ("fusion", "add")
    with pytest.raises(Exception, match="key=value"):
        _parse_setting("fusion")


def test_parser_knows_both_commands():
    parser = build_parser()
    assert parser.parse_args(["demo", "--epochs", "3"]).epochs == 3
    args = parser.parse_args(["p12", "--eval-split", "val", "--set", "fusion=add"])
    assert args.eval_split == "val" and args.set == [("fusion", "add")]


@needs_data
def test_p12_on_the_held_back_test_split_names_the_missing_records():
    with pytest.raises(FileNotFoundError, match="test"):
        main(["p12", "--data", str(SHARED), "--eval-split", "test", "--quiet"])


@pytest.mark.slow
@needs_data
def test_p12_val_run_writes_metrics_and_curves(tmp_path):
    out = tmp_path / "run"
    main(["p12", "--data", str(SHARED), "--eval-split", "val", "--quiet", "--out", str(out),
          "--set", "max_epochs=1", "--set", "d_model=16", "--set", "n_heads=2"])
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("auprc", "auroc", "accuracy"):
        assert 0 <= metrics[key]["ci_low"] <= metrics[key]["value"] <= metrics[key]["ci_high"] <= 1
    assert metrics["n_stays"] == 1920 and metrics["config"]["d_model"] == 16
    assert (out / "curves.png").stat().st_size > 10_000


@pytest.mark.slow
def test_demo_runs(capsys):
    main(["demo", "--epochs", "2", "--quiet"])
    out = capsys.readouterr().out
    assert "AUPRC" in out and "AUROC" in out
