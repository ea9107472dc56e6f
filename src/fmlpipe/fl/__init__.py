"""Federated simulation: the round loop, local training, aggregation and the algorithms."""
