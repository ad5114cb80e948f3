"""One protocol that ranks models on a cohort: ``medfuse benchmark`` (being built: issue 22)."""
