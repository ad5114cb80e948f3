"""The two jobs the meds-tab wrapper runs inside the meds-tab virtualenv (its Python runs this
file by path: it imports nothing of medfuse_sk, and polars, hydra and meds-tab only inside the
functions, so that the library's own environment can import the module without them).

``stage REQUEST``: a MEDS dataset laid out the way meds-tab reads one, for the given samples
only — ``data/<split>/<k>.parquet`` (the rows of the samples' subjects from the dataset's shard
``k``: ``subject_id``, ``time``, ``code``, ``numeric_value``; codes matching the exclusion
patterns left out; one constant static row per subject added, see :data:`CONSTANT_CODE`) and
``labels/<split>/<k>.parquet`` (``subject_id``, ``prediction_time``, ``boolean_value``, sorted),
the layout meds-tab's tabularization reads with ``input_label_dir``.

``predict REQUEST``: the probabilities of the staged ``held_out`` samples from a trained
booster, through meds-tab's own ``XGBoostModel`` and ``XGBIterator`` with the configuration the
training run wrote (so the features are those of the fit: its codes and aggregations).

A REQUEST is a JSON file; each job writes a JSON report to the path the request names.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

#: A static code every staged subject gets once, with value 1. meds-tab 0.2.0 builds its
#: static features from the subjects that have static rows and repeats them over the label
#: rows of all subjects, so a subject without a static row makes the static matrix too short
#: (an IndexError in tabularize-static). The constant row gives every subject one; its
#: features (present, first value) are equal for every sample and carry no information.
CONSTANT_CODE = "MEDFUSE_TAB//SUBJECT"
DATA_COLUMNS = ("subject_id", "time", "code", "numeric_value")


def stage(request: dict) -> dict:
    import polars as pl

    out = Path(request["out"])
    patterns = [re.compile(p, re.IGNORECASE) for p in request.get("exclude", [])]
    shards = [Path(p) for p in request["shards"]]
    samples = {}
    for split, path in request["parts"].items():
        part = (pl.read_parquet(path)
                .select(pl.col("subject_id").cast(pl.Int64),
                        pl.col("prediction_time").cast(pl.Datetime("us")),
                        pl.col("boolean_value").cast(pl.Boolean))
                .unique(["subject_id", "prediction_time"], keep="first")
                .sort("subject_id", "prediction_time"))
        samples[split] = part
    report = {split: {"samples": part.height, "subjects": part["subject_id"].n_unique(),
                      "rows": 0, "shards": 0} for split, part in samples.items()}
    excluded: dict[str, int] = {}
    found: dict[str, set] = {split: set() for split in samples}
    wanted = pl.concat([p.select("subject_id") for p in samples.values()]).unique()
    for k, shard in enumerate(shards):
        frame = pl.scan_parquet(shard)
        names = frame.collect_schema().names()
        value = (pl.col("numeric_value").cast(pl.Float32) if "numeric_value" in names
                 else pl.lit(None, dtype=pl.Float32).alias("numeric_value"))
        rows = (frame.join(wanted.lazy(), on="subject_id", how="semi")
                .select(pl.col("subject_id").cast(pl.Int64), pl.col("time").cast(pl.Datetime("us")),
                        pl.col("code").cast(pl.String), value)
                .collect())
        if rows.height == 0:
            continue
        if patterns:
            codes = rows["code"].unique().to_list()
            drop = [c for c in codes if any(p.search(c) for p in patterns)]
            if drop:
                gone = rows.filter(pl.col("code").is_in(drop))
                for code, n in gone.group_by("code").len().iter_rows():
                    excluded[code] = excluded.get(code, 0) + int(n)
                rows = rows.filter(~pl.col("code").is_in(drop))
        for split, part in samples.items():
            subjects = (part.select("subject_id").unique()
                        .join(rows.select("subject_id").unique(), on="subject_id"))
            if subjects.height == 0:
                continue
            mine = rows.join(subjects, on="subject_id", how="semi")
            constant = subjects.select(
                "subject_id", time=pl.lit(None, dtype=pl.Datetime("us")),
                code=pl.lit(CONSTANT_CODE), numeric_value=pl.lit(1.0, dtype=pl.Float32))
            mine = (pl.concat([constant, mine.select(DATA_COLUMNS)])
                    .sort(["subject_id", "time"], nulls_last=False, maintain_order=True))
            labels = part.join(subjects, on="subject_id", how="semi")
            (out / "data" / split).mkdir(parents=True, exist_ok=True)
            (out / "labels" / split).mkdir(parents=True, exist_ok=True)
            mine.write_parquet(out / "data" / split / f"{k}.parquet")
            labels.write_parquet(out / "labels" / split / f"{k}.parquet")
            found[split].update(subjects["subject_id"].to_list())
            report[split]["rows"] += mine.height - subjects.height
            report[split]["shards"] += 1
    for split, part in samples.items():
        missing = sorted(set(part["subject_id"].to_list()) - found[split])
        report[split]["subjects_without_rows"] = missing[:20]
        report[split]["n_subjects_without_rows"] = len(missing)
    report["excluded"] = excluded
    return report


def predict(request: dict) -> dict:
    import hydra
    import polars as pl
    import xgboost as xgb
    from MEDS_tabular_automl.xgboost_model import XGBIterator
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(request["config"])
    out, labels = Path(request["output_dir"]), Path(request["labels"])
    tabularized = out / "tabularize"
    for key, value in (("output_dir", out), ("input_dir", request["input_dir"]),
                       ("input_tabularized_cache_dir", tabularized),
                       ("input_label_cache_dir", labels), ("output_model_dir", out / "model"),
                       ("time_output_model_dir", out / "model"), ("log_dir", out / ".logs"),
                       ("cache_dir", out / ".cache")):
        OmegaConf.update(cfg, key, str(value), force_add=True)
    for key, value in (("input_tabularized_cache_dir", tabularized),
                       ("input_label_cache_dir", labels), ("cache_dir", out / ".cache"),
                       ("sweep_results_dir", out / "model"), ("best_trial_dir", out / "model")):
        OmegaConf.update(cfg, f"path.{key}", str(value), force_add=True)
    OmegaConf.update(cfg, "tabularization.filtered_code_metadata_fp",
                     str(out / "metadata" / "codes.parquet"), force_add=True)
    launcher = hydra.utils.instantiate(cfg.model_launcher)
    launcher.load_model(request["booster"])
    launcher.model.set_param({"nthread": int(request.get("threads", 1))})
    iterator = XGBIterator(launcher.cfg, split="held_out")
    X, y = iterator.get_data()
    launcher.iheld_out = iterator
    launcher.dheld_out = xgb.DMatrix(X, label=y)
    predictions = launcher.predict("held_out")
    (predictions.select("subject_id", "prediction_time", "predicted_boolean_probability")
     .with_columns(pl.col("predicted_boolean_probability").cast(pl.Float64))
     .write_parquet(request["predictions"]))
    return {"rows": predictions.height, "features": int(X.shape[1])}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("stage", "predict"):
        print("usage: python _runner.py stage|predict REQUEST.json", file=sys.stderr)
        return 2
    request = json.loads(Path(argv[1]).read_text())
    report = (stage if argv[0] == "stage" else predict)(request)
    Path(request["report"]).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
