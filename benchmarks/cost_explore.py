"""One fit of MedFuse with changes from the old defaults, timed and scored: the exploration that
chose the cost candidates (docs/performance.md, "The cost of a default fit").

Run (one thread, the cohort cache of ``cost_report.py``)::

    MEDFUSE_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/cost_explore.py NAME p12 0 0 \\
        '{"n_heads": 1, "max_epochs": 10, "tokenizer": {"window": 2.0}}'

Arguments: a name for the row, the cohort (``p12`` / ``p19``), the number of training stays
(0: all, val scored; N: a seeded subsample, timing only), the seed, and the changes from
``cost_report.OLD`` as JSON (``tokenizer``: changes from ``cost_report.OLD_TOKENIZER``). One
JSON line is appended to ``benchmarks/results/cost/exploration.jsonl``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cost_report as cr  # noqa: E402


def main() -> None:
    from medfuse_sk import EventTokenizer, MedFuseClassifier
    from medfuse_sk.evaluation import binary_metrics

    name, cohort, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    changes = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    tokenizer_changes = changes.pop("tokenizer", {})
    data = cr.cohort_data(cohort)
    X, y = data["train"]
    if n and n < len(X):
        rows = np.sort(np.random.default_rng(0).choice(len(X), n, replace=False))
        X, y = X.take(rows), y[rows]
    model = MedFuseClassifier(tokenizer=EventTokenizer(**{**cr.OLD_TOKENIZER, **tokenizer_changes}),
                              random_state=seed, verbose=0, **{**cr.OLD, **changes})
    cpu, wall = time.process_time(), time.perf_counter()
    model.fit(X, y)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    out = {"name": name, "cohort": cohort, "n": len(y), "seed": seed, "changes": changes,
           "tok": tokenizer_changes, "wall": wall, "cpu": cpu, "epochs": len(model.history_),
           "s_per_epoch": wall / len(model.history_),
           "tokens": int(model.transform_tokens(X).n_rows)}
    if not n:
        X_val, y_val = data["val"]
        metrics = binary_metrics(y_val, model.predict_proba(X_val)[:, 1], n_bootstrap=0)
        out["auprc"], out["auroc"] = metrics["auprc"]["value"], metrics["auroc"]["value"]
    print(json.dumps(out), flush=True)
    cr.OUT.mkdir(parents=True, exist_ok=True)
    with open(cr.OUT / "exploration.jsonl", "a") as handle:
        handle.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
