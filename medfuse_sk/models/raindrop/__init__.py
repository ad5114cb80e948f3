"""Raindrop (Zhang et al., 2022) in plain torch (being built: issue 23)."""
