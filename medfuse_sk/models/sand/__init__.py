"""SAnD (Song et al., 2018) with dense interpolation (being built: issue 23)."""
