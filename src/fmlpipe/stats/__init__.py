"""Statistics for comparing runs: confidence intervals over seeds, paired verdicts of one method
against a reference, and whether a run's training levelled off. Pure Python (numpy, scipy), no torch."""
