"""The Ray backend: worker actors that each own a fixed shard of clients and keep their
personal states, driven by the same round loop as the local engines (``fl.simulation``)."""
