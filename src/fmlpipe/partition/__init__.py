"""Split a labelled training set across simulated federated clients, with local test splits.

Stats and the heatmap (matplotlib) live in ``fmlpipe.partition.stats`` and are not imported
here, so readers of a saved :class:`Partition` do not pay for them.
"""

from fmlpipe.partition.registry import SCHEMES, assign_clients
from fmlpipe.partition.result import Partition
from fmlpipe.partition.split import local_test_split

__all__ = ["SCHEMES", "Partition", "assign_clients", "local_test_split"]
