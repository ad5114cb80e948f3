import time, sys, torch
from medfuse_sk.datasets import load_physionet2012
from medfuse_sk.reproduce import make_p12_model, _events
d = load_physionet2012("../shared/data/physionet2012", split="train", progress=False)
X = _events(d)[:2000]; y = d.labels.loc[X.stay_ids].to_numpy()
configs = [{"n_heads": 4}, {"n_heads": 1}, {"n_heads": 1, "batch_size": 128}, {"n_heads": 1, "batch_size": 256}, {"n_heads": 1, "max_tokens": 256}]
for rep in range(2):
    for c in configs:
        clf = make_p12_model({"combine": None, "max_epochs": 2, **c}, verbose=0)
        clf.fit(X, y)
        print(c, [round(x, 2) for x in clf.history_[:, "dur"]], flush=True)
