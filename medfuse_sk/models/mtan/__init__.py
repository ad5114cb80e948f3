"""mTAN (Shukla & Marlin, 2021): multi-time attention on raw times (being built: issue 23)."""
