"""Encoder geometry: receptive field 1791, stride 80, frame counts, rollout constants."""

from __future__ import annotations

import torch

import rollout as R
from model import LEFT_CONTEXT, RECEPTIVE_FIELD, STRIDE, chain_geometry, num_frames


def test_chain_geometry_constants():
    assert chain_geometry() == (1791, 80)
    assert RECEPTIVE_FIELD == 1791 and LEFT_CONTEXT == 1790 and STRIDE == 80


def test_frame_formula():
    assert num_frames(1790) == 0
    assert num_frames(1791) == 1
    assert num_frames(1830) == 1
    assert num_frames(1870) == 1
    assert num_frames(1871) == 2
    assert num_frames(11790) == 125
    assert num_frames(41790) == 500
    for t in range(1791, 30001):
        assert num_frames(t) == (t - 1791) // 80 + 1


def test_encoder_frame_counts(model):
    lengths = [1791, 1830, 1870, 1871, 1950, 1951, 2000, 3583, 5000, 11790, 11791, 12345]
    with torch.no_grad():
        for t in lengths:
            out = model.network(torch.zeros(1, 16, t))
            assert tuple(out.shape) == (1, 64, num_frames(t)), t


def test_frame_sees_exactly_its_samples(model):
    """Frame k depends on samples [80k, 80k + 1790] and on no other sample."""
    t = 1791 + 80 * 3  # 4 frames
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 16, t, generator=g)
    with torch.no_grad():
        base = model.network(x)[0]
        for s in [0, 79, 80, 81, 1790, 1791, 1870, 1871, 2030]:
            y = x.clone()
            y[0, :, s] += 5.0
            changed = (model.network(y)[0] - base).abs().amax(dim=0) > 0
            expected = torch.tensor([80 * k <= s <= 80 * k + 1790 for k in range(4)])
            assert torch.equal(changed, expected), (s, changed, expected)


def test_rollout_constants():
    assert R.POSITION_STEPS == 12  # Python round-half-to-even of 12.5
    assert R.BLOCK_SAMPLES == 11790 and R.BLOCK_FRAMES == 125 and R.BLOCK_POINTS == 250
    assert R.n_time_for(11790) == 250 and R.n_time_for(1830) == 1
    assert R.num_exact_blocks(41790) == 4 and R.num_exact_blocks(41789) == 3 and R.num_exact_blocks(11789) == 0
