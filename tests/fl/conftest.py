"""The small real setup lives in tests/conftest.py; re-exported for older imports."""

from tests.conftest import small_params

__all__ = ["small_params"]
