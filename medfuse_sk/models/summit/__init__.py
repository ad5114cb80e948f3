"""SUMMIT (Huang et al., 2022) (being built: issue 23)."""
