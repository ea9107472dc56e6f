"""The train stage: simulate one algorithm, checkpoint each round, write its run folder."""
