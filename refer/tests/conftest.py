"""Shared pytest setup for refer/ tests: import path, markers, fixtures."""

from __future__ import annotations

import os
import sys

import pytest

REFER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(REFER)
if REFER not in sys.path:
    sys.path.insert(0, REFER)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs a full export (about 15-30 s); deselect with -m 'not slow'")


@pytest.fixture(scope="session")
def model():
    from model import build_model

    return build_model()


@pytest.fixture(scope="session")
def emg_2blocks():
    """Random EMG [16, 21790] (2 exact blocks), unit scale."""
    import torch

    g = torch.Generator().manual_seed(7)
    return torch.randn(16, 2 * 10000 + 1790, generator=g)
