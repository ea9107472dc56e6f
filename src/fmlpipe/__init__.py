"""fmlpipe: reproducible comparisons of Federated Mutual Learning and its baselines."""

__version__ = "0.1.0"
