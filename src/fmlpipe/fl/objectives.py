"""The loss terms every algorithm is built from, written once as functions of model outputs.

Both engines call these: the sequential engine on one client's real batch (``weight`` None),
the vectorized engine per client under ``vmap`` on a batch padded to a fixed size, where
``weight`` is 1 for a real sample and 0 for padding. With weights, every mean is taken over
the real samples only, so a padded batch gives the same loss and gradient as the real one.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch.nn import functional as F


def _full(logits: torch.Tensor) -> torch.Tensor:
    """Logits in at least fp32: bf16 logits under autocast (``fl.precision``) give fp32 losses,
    while fp32 and fp64 stay as they are."""
    return logits.float() if logits.dtype in (torch.bfloat16, torch.float16) else logits


def _mean(per_sample: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean over the real samples: ``sum(w * v) / sum(w)``."""
    if weight is None:
        return per_sample.mean()
    # clamp: a batch of padding only never reaches here, but must not divide by zero under vmap
    return (per_sample * weight).sum() / weight.sum().clamp_min(1.0)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of logits [B, K] against labels [B], in fp32 whatever the logits' dtype."""
    logits = _full(logits)
    if weight is None:
        return F.cross_entropy(logits, y)
    return _mean(F.cross_entropy(logits, y, reduction="none"), weight)


def kl_to_peer(logits: torch.Tensor, peer_logits: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """KL(p_peer || p_self), batch mean. The peer is a fixed target (detached): without the
    detach each model's distillation term would also push gradients into its peer."""
    log_q = F.log_softmax(_full(logits), dim=1)
    p = F.softmax(_full(peer_logits.detach()), dim=1)
    if weight is None:
        return F.kl_div(log_q, p, reduction="batchmean")
    return _mean(F.kl_div(log_q, p, reduction="none").sum(dim=1), weight)


def proximal_term(params: Mapping[str, torch.Tensor], anchor: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``||w - w_anchor||^2`` over every parameter in ``params`` (FedProx's drift penalty)."""
    return sum(((p - anchor[name]) ** 2).sum() for name, p in params.items())  # type: ignore[return-value]
