"""The module on 2,000 P12 train stays, 2 epochs: whole in one process on 2 threads, or in two
parts fitted side by side in two processes of one thread (``n_jobs=2``); speed only.

    python benchmarks/results/p12/test_timing/parallel_speed.py   # both cores idle
"""

import time

import torch

from medfuse_sk.datasets import load_physionet2012
from medfuse_sk.recipes import make_p12_model

data = load_physionet2012("../shared/data/physionet2012", split="train", progress=False)
X = data.to_event_set()[:2000]
y = data.labels.loc[X.stay_ids].to_numpy()
CONFIGS = {"whole, 1 process x 2 threads": {"n_jobs": 1},
           "two parts, 2 processes x 1 thread": {"n_jobs": 2}}
print(f"torch threads here: {torch.get_num_threads()}", flush=True)
for _repeat in range(3):
    for label, config in CONFIGS.items():
        model = make_p12_model({"combine": None, "max_epochs": 2, **config}, verbose=0)
        started = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - started
        nets = [model] if config["n_jobs"] == 1 else list(model.named_estimators_.values())
        epochs = [[round(d, 1) for d in net.history_[:, "dur"]] for net in nets]
        print(f"{label}: fit {seconds:.1f} s, epochs {epochs}", flush=True)
