"""Temporal convolutional network on a regular grid (being built: issue 23)."""
