"""SeFT (Horn et al., 2020) through PyPOTS (being built: issue 22)."""
