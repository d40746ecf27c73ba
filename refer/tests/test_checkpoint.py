"""Import of upstream-layout Lightning checkpoints written by the test itself."""

from __future__ import annotations

import argparse

import pytest
import torch

from checkpoint import CheckpointError, load_checkpoint, main
from model import build_model


def _write_ckpt(path, state, hyper_parameters=None):
    ckpt = {
        "epoch": 3,
        "global_step": 1234,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": {**{f"model.{k}": v for k, v in state.items()}, "loss_fn.dummy": torch.zeros(3)},
        "optimizer_states": [],
        "hyper_parameters": hyper_parameters if hyper_parameters is not None else {"lr": 1e-3},
    }
    torch.save(ckpt, path)


def test_roundtrip(tmp_path):
    src = build_model(123)
    path = tmp_path / "good.ckpt"
    _write_ckpt(path, src.state_dict())
    loaded = load_checkpoint(path)
    ref = src.state_dict()
    got = loaded.state_dict()
    assert set(ref) == set(got)
    assert all(torch.equal(ref[k], got[k]) for k in ref)
    assert not loaded.training
    assert main([str(path)]) == 0


def test_refuses_missing_key(tmp_path):
    state = dict(build_model(1).state_dict())
    del state["decoder.mlp_out.1.bias"]
    path = tmp_path / "missing.ckpt"
    _write_ckpt(path, state)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "missing" in str(err.value) and "model.decoder.mlp_out.1.bias" in str(err.value)
    assert main([str(path)]) == 2


def test_refuses_unexpected_and_mismatched(tmp_path):
    state = dict(build_model(1).state_dict())
    state["network.extra.weight"] = torch.zeros(2)
    state["network.layers.3.linear_layer.weight"] = torch.zeros(32, 256)
    path = tmp_path / "bad.ckpt"
    _write_ckpt(path, state)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert "unexpected" in msg and "model.network.extra.weight" in msg
    assert "shape mismatch" in msg and "model.network.layers.3.linear_layer.weight" in msg


def test_pickled_objects_need_trust(tmp_path):
    src = build_model(9)
    path = tmp_path / "pickled.ckpt"
    _write_ckpt(path, src.state_dict(), hyper_parameters=argparse.Namespace(lr=1e-3))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "--trust-checkpoint" in str(err.value)
    loaded = load_checkpoint(path, trust=True)
    assert torch.equal(loaded.state_dict()["decoder.lstm.weight_ih_l0"], src.state_dict()["decoder.lstm.weight_ih_l0"])
