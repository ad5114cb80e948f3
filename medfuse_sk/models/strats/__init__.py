"""STraTS (Tipirneni & Reddy, 2022): continuous value embedding (being built: issue 23)."""
