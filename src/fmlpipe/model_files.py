"""Model files: safetensors weights whose metadata names the architecture, so one line loads
a trained model back: ``fmlpipe.model_files.load_model("runs/fml/models/client-003.safetensors")``.
Nothing is unpickled."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from fmlpipe.errors import DataError
from fmlpipe.io import write_tensors


def architecture(arch: str, input_shape: tuple[int, int, int], num_classes: int,
                 normalization: tuple[Sequence[float], Sequence[float]] | None = None) -> dict[str, object]:
    """What a model file records to be rebuilt: the architecture, its input and output sizes,
    and the per-channel (mean, std) its inputs were standardized by in training (None: raw [0, 1])."""
    out: dict[str, object] = {"arch": arch, "input_shape": list(input_shape), "num_classes": num_classes}
    if normalization is not None:
        out["normalize"] = {"mean": list(normalization[0]), "std": list(normalization[1])}
    return out


def save_model(path: str | Path, state: dict[str, torch.Tensor], arch: dict[str, object]) -> None:
    write_tensors(path, state, metadata={"fmlpipe_architecture": json.dumps(arch)})


def load_model(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the architecture recorded in the file and load its weights (eval mode). A model
    trained on standardized inputs standardizes its own: it always takes [0, 1] pixels."""
    from fmlpipe.models.layers import normalize_inputs
    from fmlpipe.models.registry import build_model

    path = Path(path)
    if not path.is_file():
        raise DataError(f"model file '{path}' not found: run the train stage (dvc repro) first")
    with safe_open(str(path), framework="pt") as fh:
        meta = (fh.metadata() or {}).get("fmlpipe_architecture")
    if meta is None:
        raise DataError(f"'{path}' has no fmlpipe architecture metadata; not an fmlpipe model file")
    arch = json.loads(meta)
    model = build_model(arch["arch"], tuple(arch["input_shape"]), int(arch["num_classes"]))
    model.load_state_dict(load_file(str(path), device=str(device)))
    if "normalize" in arch:
        normalize_inputs(model, arch["normalize"]["mean"], arch["normalize"]["std"])
    return model.to(device).eval()
