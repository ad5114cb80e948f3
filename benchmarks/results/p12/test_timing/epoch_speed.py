"""Module epoch time on 2,000 P12 train stays for a few configurations (speed only)."""

from medfuse_sk.datasets import load_physionet2012
from medfuse_sk.recipes import make_p12_model

data = load_physionet2012("../shared/data/physionet2012", split="train", progress=False)
X = data.to_event_set()[:2000]
y = data.labels.loc[X.stay_ids].to_numpy()
CONFIGS = [{"n_heads": 4}, {"n_heads": 1}, {"n_heads": 1, "batch_size": 128},
           {"n_heads": 1, "batch_size": 256}, {"n_heads": 1, "max_tokens": 256}]
for _repeat in range(2):
    for config in CONFIGS:
        clf = make_p12_model({"combine": None, "max_epochs": 2, **config}, verbose=0).fit(X, y)
        print(config, [round(x, 2) for x in clf.history_[:, "dur"]], flush=True)
