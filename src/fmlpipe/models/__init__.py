"""Model architectures by name: ``build_model`` and the ``MODELS`` registry."""

from fmlpipe.models.registry import MODELS, ModelSpec, build_model

__all__ = ["MODELS", "ModelSpec", "build_model"]
