"""Exact rollout and the two streaming policies."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rollout as R
from conftest import REPO_ROOT


def test_align_corners_weights_bit_exact():
    g = torch.Generator().manual_seed(11)
    for n_in, n_out in [(125, 250), (5, 1), (4, 9), (3, 3)]:
        x = torch.randn(1, 64, n_in, generator=g) * 3
        ref = F.interpolate(x, size=n_out, mode="linear", align_corners=True)[0].T
        i0, i1, lam = R.align_corners_weights(n_in, n_out)
        got = torch.stack([R.lerp_frames(x[0].T, int(i0[i]), int(i1[i]), float(lam[i])) for i in range(n_out)])
        assert torch.allclose(got, ref, rtol=0, atol=1e-6)
    i0, i1, lam = R.align_corners_weights(125, 250)
    assert (i0[0], i1[0], lam[0]) == (0, 1, 0.0)
    assert i0[-1] == 124 and i1[-1] == 124  # last point: frame 124 only


def test_exact_rollout_shapes(model, emg_2blocks):
    feats, poses = R.exact_rollout(model, emg_2blocks)
    assert feats.shape == (2, 250, 64) and poses.shape == (2, 250, 20)
    up = R.upsample_block_poses(poses[0])
    assert up.shape == (10000, 20)
    # align_corners=False: sample 0 equals pose 0, the last sample equals pose 249
    assert torch.allclose(up[0], poses[0, 0]) and torch.allclose(up[-1], poses[0, -1])


def test_exact_grid_with_block_resets_equals_exact(model, emg_2blocks):
    feats, poses = R.exact_rollout(model, emg_2blocks)
    native = R.encode(model, emg_2blocks)
    assert native.shape == (250, 64)
    # per-block encoder frames equal the full-input encoder's frames 125b..125b+124
    with torch.no_grad():
        block1 = model.network(emg_2blocks[None, :, 10000:21790])[0].T
    assert (block1 - native[125:250]).abs().max() <= 1e-5
    eg_feats = R.exact_grid_features(native)
    assert eg_feats.shape == (500, 64)
    assert (eg_feats - feats.reshape(-1, 64)).abs().max() <= 1e-5
    eg_poses = R.decode_sequence(model, eg_feats[None], reset_every=250)[0]
    assert (eg_poses - poses.reshape(-1, 20)).abs().max() <= 1e-5
    # continuous session: identical to exact in block 0, then the kept state diverges
    _, cont = R.streaming_exact_grid(model, emg_2blocks, native=native)
    assert (cont[:250] - poses[0]).abs().max() <= 1e-5


def test_exact_grid_step_count(model):
    assert len(R.exact_grid_plan(500)) == 1000  # 41790 samples -> 500 frames -> 4 blocks of steps
    assert len(R.exact_grid_plan(125)) == 250
    assert len(R.exact_grid_plan(124)) == 247  # i=247..249 need frame 124


def test_sliding_window(model, emg_2blocks):
    feats, poses = R.exact_rollout(model, emg_2blocks)
    native = R.encode(model, emg_2blocks)
    sw_feats, sw_poses = R.streaming_sliding_window(model, emg_2blocks)
    assert sw_feats.shape == (500, 64)  # s = 1830 + 40 j <= 21790
    # step 0 equals exact's first point and pose of block 0
    assert (sw_feats[0] - feats[0, 0]).abs().max() <= 1e-5
    assert (sw_poses[0] - poses[0, 0]).abs().max() <= 1e-5
    # even steps are native frames
    assert (sw_feats[::2] - native).abs().max() <= 1e-5
    reset = R.decode_sequence(model, sw_feats[None], reset_every=250)[0]
    d = (reset - poses.reshape(-1, 20)).double()
    # measured gap (SPEC section 3): small MSE, but max diff far above float precision
    assert d.pow(2).mean() < 1e-4 and d.abs().max() > 1e-5


GOLDEN = os.path.join(REPO_ROOT, "models", "golden", "reference.mtb")


@pytest.mark.skipif(not os.path.exists(GOLDEN), reason="models/golden not exported")
def test_committed_golden_matches_code():
    from export import make_golden_emg
    from model import build_model
    from tensor_bundle import read_bundle

    arrays, meta = read_bundle(GOLDEN)
    if "seed" not in meta["weights"]:
        pytest.skip("golden exported from a checkpoint")
    model = build_model(meta["weights"]["seed"])
    emg = torch.from_numpy(np.ascontiguousarray(make_golden_emg().T))
    assert meta["position_steps"] == 12
    native = R.encode(model, emg).numpy()
    assert np.abs(native - arrays["native_frames"]).max() <= 1e-5
    feats, poses = R.exact_rollout(model, emg[:, :11790])
    assert np.abs(poses[0].numpy() - arrays["exact_poses"][0]).max() <= 1e-5
    shapes = {k: v.shape for k, v in arrays.items()}
    assert shapes["native_frames"] == (500, 64) and shapes["sliding_features"] == (1000, 64)
    assert shapes["exact_features"] == (4, 250, 64) and shapes["exact_poses"] == (4, 250, 20)
    assert shapes["exact_poses_2khz_block0"] == (10000, 20)
    assert shapes["streaming_sliding_window_poses"] == (1000, 20)
    assert shapes["streaming_exact_grid_poses"] == (1000, 20)
