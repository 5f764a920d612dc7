"""Shared test setup.

PyTorch is a test-only dependency used for parity checks. Locally, a missing
torch skips those tests; CI sets EDUGRAD_REQUIRE_TORCH=1 so that a missing
torch fails the run instead of silently skipping the comparisons.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

# What makes a Markdown chapter an executable MyST notebook, for the tests' small chapters.
MYST_FRONT_MATTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""
sys.path.insert(0, str(ROOT))  # for `import tangle`

settings.register_profile(
    "edugrad", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("edugrad")


def require_torch():
    """Import torch, or skip (locally) / fail (when EDUGRAD_REQUIRE_TORCH=1)."""
    try:
        import torch
    except ImportError:
        if os.environ.get("EDUGRAD_REQUIRE_TORCH") == "1":
            pytest.fail("PyTorch is required for the parity tests (pip install torch==2.13.0)")
        pytest.skip("PyTorch is not installed: parity tests skipped")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="session")
def torch():
    return require_torch()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
