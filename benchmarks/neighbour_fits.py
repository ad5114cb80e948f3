"""A default fit alone and beside a busy neighbour, before and after the thread choice.

The fit: ``MedFuseClassifier(max_epochs=3, random_state=0)`` on the bundled sample's train
stays (1,000). The neighbours, started 5 s before it and running until it ends:

- ``fit``: another process fitting MedFuse on the same stays, again and again;
- ``grid``: ``GridSearchCV(MedFuseClassifier(...), n_jobs=2)`` (joblib's worker processes);
- ``voting``: a soft-voting ensemble of two MedFuse networks fitted with ``n_jobs=2``.

``before``: the fit and the ``fit`` neighbour pin torch to two threads
(``MEDFUSE_NUM_THREADS=2``: torch's default on 2 cores, what the library did before it chose);
the search's and the ensemble's worker processes get one thread each from joblib either way
(it sets ``OMP_NUM_THREADS`` to cores // n_jobs in its workers). ``after``: the library
chooses (nothing set). Prints one line per case and writes them to
``benchmarks/results/neighbour/fits_<date>.txt``::

    python benchmarks/neighbour_fits.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

OUT = Path("benchmarks/results/neighbour")

SETUP = """
import sys, time, numpy as np
from medfuse_sk import MedFuseClassifier
from medfuse_sk.datasets import load_sample
data = load_sample("train")
X = data.to_event_set(); y = data.labels.loc[X.stay_ids].to_numpy()
"""
TARGET = SETUP + """
began, cpu = time.perf_counter(), time.process_time()
clf = MedFuseClassifier(max_epochs=3, random_state=0, verbose=0).fit(X, y)
print(f"{time.perf_counter() - began:.1f} {time.process_time() - cpu:.1f} {clf.n_threads_}")
"""
NEIGHBOURS = {
    "fit": SETUP + """
while True:
    MedFuseClassifier(max_epochs=3, random_state=1, verbose=0).fit(X, y)
""",
    "grid": SETUP + """
from sklearn.model_selection import GridSearchCV
grid = GridSearchCV(MedFuseClassifier(max_epochs=3, random_state=1, verbose=0),
                    {"fusion": ["mufuse", "add", "concat", "scane"] * 8}, cv=2,
                    scoring="average_precision", n_jobs=2)
grid.fit(X, y)
""",
    "voting": SETUP + """
from medfuse_sk.ensemble import make_voting
while True:
    make_voting([("a", MedFuseClassifier(max_epochs=3, random_state=1, verbose=0)),
                 ("b", MedFuseClassifier(max_epochs=3, random_state=2, verbose=0))],
                n_jobs=2).fit(X, y)
""",
}


def target(env: dict) -> tuple[float, float, int]:
    done = subprocess.run([sys.executable, "-c", TARGET], env=env, capture_output=True,
                          text=True, check=True)
    wall, cpu, threads = done.stdout.split()[-3:]
    return float(wall), float(cpu), int(threads)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [f"# {time.strftime('%Y-%m-%d %H:%M')} {os.cpu_count()} CPUs; target: MedFuse, "
             "3 epochs, 1,000 sample stays; wall s, CPU s, threads the fit chose"]
    for policy, pinned in (("before", "2"), ("after", None)):
        env = {k: v for k, v in os.environ.items() if k != "MEDFUSE_NUM_THREADS"}
        if pinned:
            env["MEDFUSE_NUM_THREADS"] = pinned
        for neighbour in ("alone", *NEIGHBOURS):
            proc = None
            if neighbour != "alone":
                own = env if neighbour == "fit" else {k: v for k, v in env.items()
                                                      if k != "MEDFUSE_NUM_THREADS"}
                proc = subprocess.Popen([sys.executable, "-c", NEIGHBOURS[neighbour]], env=own,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
                time.sleep(5)
            try:
                wall, cpu, threads = target(env)
            finally:
                if proc is not None:
                    os.killpg(proc.pid, 9)
                    proc.wait()
            line = f"{policy:6s} {neighbour:7s} wall {wall:6.1f} s  CPU {cpu:6.1f} s  threads {threads}"
            print(line, flush=True)
            lines.append(line)
    path = OUT / f"fits_{time.strftime('%Y-%m-%d')}.txt"
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
