"""``fmlpipe bench``: how fast the simulation engines train on the real Fashion-MNIST."""
