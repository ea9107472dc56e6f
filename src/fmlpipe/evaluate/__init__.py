"""The ``evaluate`` stage: every algorithm's run read back, compared, and written to ``reports/``."""
