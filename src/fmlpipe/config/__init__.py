"""Params: parsed once from ``params.yaml`` into frozen typed sections."""

from fmlpipe.config.load import load_params, parse_params
from fmlpipe.config.schema import Params

__all__ = ["Params", "load_params", "parse_params"]
