"""FedPer (Arivazhagan, Aggarwal, Singh and Choudhary, arXiv 1912.00818): FedAvg whose
personalization layers stay with each client. Base and personalization layers train together
on the client's data; only the base is sent and averaged (sample-weighted, as FedAvg). Here
the personalization layers are the model's output layer (``ModelSpec.head_prefix``), the
choice of every public implementation; their optimizer state persists with them.
"""

from __future__ import annotations

from fmlpipe.fl.algorithms.fedavg import FedAvg


class FedPer(FedAvg):
    name = "fedper"
    private_heads = True
    personalized_is_global = False
    personalized = "the averaged base with the client's own output layer"
