"""Spatial-size arithmetic shared by the convolutional models, so each can size its first fully
connected layer from the input shape and refuse an input its layers would shrink to nothing."""

from __future__ import annotations


class InputTooSmall(ValueError):
    """Raised by a model's constructor; the registry turns it into a ``ParamsError``."""


def conv_out(side: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output side of a convolution or pooling window (PyTorch's floor rule)."""
    return (side + 2 * padding - kernel) // stride + 1


def require_positive(hw: tuple[int, int], why: str) -> tuple[int, int]:
    """Return ``hw`` if both sides are at least 1, else raise ``InputTooSmall(why)``.

    Checking only the final feature map suffices: every layer maps a non-positive side to a
    non-positive side, so a too-small intermediate map always shows up at the end.
    """
    if min(hw) < 1:
        raise InputTooSmall(f"{why} (feature map would be {hw[0]}x{hw[1]})")
    return hw
