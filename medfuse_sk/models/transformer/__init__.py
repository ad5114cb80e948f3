"""A Transformer encoder on a regular grid (being built: issue 23)."""
