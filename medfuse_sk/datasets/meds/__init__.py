"""MEDS datasets and tasks in, MEDS predictions and datasets out (being built: issue 21)."""
