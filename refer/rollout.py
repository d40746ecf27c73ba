"""Rollouts of the pose model: exact (block) mode and the two streaming feature policies.

All functions work on EMG as a float32 tensor [16, T] (channels first) and return float32
tensors. See SPEC section 2 (exact rollout) and section 3 (streaming policies) and
refer/README.md.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from model import (
    FEATURE_DIM,
    LEFT_CONTEXT,
    POSE_DIM,
    RIGHT_CONTEXT,
    ROLLOUT_FREQ,
    SAMPLE_RATE,
    STRIDE,
    PoseModel,
    num_frames,
)

# Exact (block) mode geometry.
BLOCK_STRIDE = 10000  # new samples per block (5 s)
BLOCK_SAMPLES = BLOCK_STRIDE + LEFT_CONTEXT + RIGHT_CONTEXT  # 11790
# Python's round() is round-half-to-even: round(12.5) == 12 (JavaScript's Math.round gives 13).
POSITION_STEPS = round(500 * ROLLOUT_FREQ / SAMPLE_RATE)
BLOCK_FRAMES = num_frames(BLOCK_SAMPLES)  # 125 native frames per block
BLOCK_POINTS = round((BLOCK_SAMPLES - LEFT_CONTEXT - RIGHT_CONTEXT) / SAMPLE_RATE * ROLLOUT_FREQ)  # 250

# Streaming (sliding window) geometry.
WINDOW_SAMPLES = 1830
STEP_SAMPLES = 40

assert POSITION_STEPS == 12
assert BLOCK_FRAMES == 125 and BLOCK_POINTS == 250
assert BLOCK_STRIDE % STRIDE == 0 and BLOCK_STRIDE // STRIDE == BLOCK_FRAMES


def n_time_for(num_samples: int) -> int:
    """Number of 50 Hz rollout points for a window of ``num_samples`` samples."""
    seconds = (num_samples - LEFT_CONTEXT - RIGHT_CONTEXT) / SAMPLE_RATE
    return round(seconds * ROLLOUT_FREQ)


def num_exact_blocks(num_samples: int) -> int:
    """Number of complete exact blocks in ``num_samples`` samples."""
    return max(0, (num_samples - LEFT_CONTEXT) // BLOCK_STRIDE)


def interp_align_corners(features: torch.Tensor, n_time: int) -> torch.Tensor:
    """[B, C, F] -> [B, C, n_time], linear, align_corners=True (n_time == 1 -> frame 0)."""
    return F.interpolate(features, size=n_time, mode="linear", align_corners=True)


def align_corners_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs and weights exactly as PyTorch's CPU linear resize with align_corners=True.

    Point i reads ``x[i0] * (1 - lam) + x[i1] * lam`` where, in float32,
    ``scale = (n_in - 1) / (n_out - 1)`` (0 when n_out == 1), ``src = scale * i``,
    ``i0 = min(floor(src), n_in - 1)``, ``lam = clamp(src - i0, 0, 1)`` and
    ``i1 = i0 + 1`` if ``i0 < n_in - 1`` else ``i0``.
    """
    f32 = np.float32
    scale = f32(n_in - 1) / f32(n_out - 1) if n_out > 1 else f32(0.0)
    i0 = np.zeros(n_out, dtype=np.int64)
    i1 = np.zeros(n_out, dtype=np.int64)
    lam = np.zeros(n_out, dtype=np.float32)
    for i in range(n_out):
        src = f32(scale * f32(i))
        k = min(int(np.floor(src)), n_in - 1)
        w = f32(min(max(src - f32(k), f32(0.0)), f32(1.0)))
        i0[i] = k
        i1[i] = k + 1 if k < n_in - 1 else k
        lam[i] = w
    return i0, i1, lam


def lerp_frames(frames: torch.Tensor, i0: int, i1: int, lam: float) -> torch.Tensor:
    """frames [F, C] -> one feature [C] = frames[i0]*(1-lam) + frames[i1]*lam.

    Evaluated the way PyTorch's vectorised CPU kernel does it: ``w1 = lam``, ``w0 = 1 - lam``
    in float32, ``q = float32(x1 * w1)``, then ``float32(x0 * w0 + q)`` with one rounding
    (a fused multiply-add; emulated here in float64, where the float32 product is exact).
    The plain float32 form ``x0*w0 + x1*w1`` differs from it by at most a few ulp.
    """
    w1 = np.float32(lam)
    w0 = np.float32(1.0) - w1
    x0 = frames[i0].double()
    q = (frames[i1] * torch.tensor(w1)).double()
    return (x0 * float(w0) + q).float()


def encode(model: PoseModel, emg: torch.Tensor) -> torch.Tensor:
    """Full-input encoder: emg [16, T] -> native frames [F, 64] (frame g = samples [80g, 80g+1791))."""
    with torch.no_grad():
        return model.network(emg.unsqueeze(0))[0].transpose(0, 1).contiguous()


def decode_sequence(
    model: PoseModel,
    features: torch.Tensor,
    position_steps: int = POSITION_STEPS,
    reset_every: int | None = None,
) -> torch.Tensor:
    """Run the decoder step by step over features [B, N, 64] -> poses [B, N, 20].

    State (LSTM h/c = 0, previous pose = 0, step counter = 0) is set at the start and, when
    ``reset_every`` is given, again every ``reset_every`` steps. Steps with counter < 12 take
    the predicted position, later steps integrate the predicted velocity.
    """
    batch, n_steps, _ = features.shape
    out = torch.empty(batch, n_steps, POSE_DIM, dtype=torch.float32)
    with torch.no_grad():
        state = model.decoder.zero_state(batch)
        prev = torch.zeros(batch, POSE_DIM)
        k = 0
        for t in range(n_steps):
            if reset_every is not None and t > 0 and t % reset_every == 0:
                state = model.decoder.zero_state(batch)
                prev = torch.zeros(batch, POSE_DIM)
                k = 0
            x = torch.cat([features[:, t], prev], dim=1).unsqueeze(1)
            pos_vel, state = model.decoder(x, state)
            pos_vel = pos_vel[:, 0]
            pos, vel = pos_vel[:, :POSE_DIM], pos_vel[:, POSE_DIM:]
            prev = pos if k < position_steps else prev + vel
            out[:, t] = prev
            k += 1
    return out


def exact_rollout(model: PoseModel, emg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact (block) mode over emg [16, T].

    Block b = samples [10000 b, 10000 b + 11790); features = encoder(block) (125 frames)
    interpolated to 250 points (align_corners=True); LSTM reset per block.
    Returns (features [nb, 250, 64], poses [nb, 250, 20]).
    """
    nb = num_exact_blocks(emg.shape[1])
    if nb == 0:
        raise ValueError(f"need at least {BLOCK_SAMPLES} samples, got {emg.shape[1]}")
    blocks = torch.stack([emg[:, b * BLOCK_STRIDE : b * BLOCK_STRIDE + BLOCK_SAMPLES] for b in range(nb)])
    with torch.no_grad():
        frames = model.network(blocks)  # [nb, 64, 125]
        feats = interp_align_corners(frames, BLOCK_POINTS).transpose(1, 2).contiguous()  # [nb, 250, 64]
    poses = decode_sequence(model, feats)
    return feats, poses


def upsample_block_poses(poses: torch.Tensor, num_samples: int = BLOCK_STRIDE) -> torch.Tensor:
    """poses [250, 20] -> [num_samples, 20] by linear interpolation, align_corners=False."""
    x = poses.transpose(0, 1).unsqueeze(0)
    with torch.no_grad():
        y = F.interpolate(x, size=num_samples, mode="linear", align_corners=False)
    return y[0].transpose(0, 1).contiguous()


def sliding_window_features(model: PoseModel, emg: torch.Tensor, batch: int = 50) -> torch.Tensor:
    """Streaming sliding-window features: step j at sample count s = 1830 + 40 j (s <= T).

    Window = samples [s - 1830, s); the encoder gives one frame; single-point interpolation
    (n_time = 1, align_corners=True) takes frame 0. Returns [N, 64].
    """
    total = emg.shape[1]
    n_steps = max(0, (total - WINDOW_SAMPLES) // STEP_SAMPLES + 1)
    assert n_time_for(WINDOW_SAMPLES) == 1 and num_frames(WINDOW_SAMPLES) == 1
    out = torch.empty(n_steps, FEATURE_DIM, dtype=torch.float32)
    with torch.no_grad():
        for start in range(0, n_steps, batch):
            idx = range(start, min(n_steps, start + batch))
            windows = torch.stack([emg[:, j * STEP_SAMPLES : j * STEP_SAMPLES + WINDOW_SAMPLES] for j in idx])
            frames = model.network(windows)  # [n, 64, 1]
            point = interp_align_corners(frames, 1)  # frame 0
            out[start : start + len(idx)] = point[:, :, 0]
    return out


def exact_grid_plan(total_frames: int) -> list[tuple[int, int, float]]:
    """Per streaming step j: (global frame a, global frame b, lam) on exact's grid.

    Block = j // 250, i = j % 250, position i*124/249 within the block's native frames
    (global frame 125*block + k), weights as F.interpolate(align_corners=True) for a
    125 -> 250 resize. Steps continue while both frames exist (< total_frames).
    """
    i0, i1, lam = align_corners_weights(BLOCK_FRAMES, BLOCK_POINTS)
    plan = []
    j = 0
    while True:
        b, i = divmod(j, BLOCK_POINTS)
        a = b * BLOCK_FRAMES + int(i0[i])
        c = b * BLOCK_FRAMES + int(i1[i])
        if max(a, c) >= total_frames:
            break
        plan.append((a, c, float(lam[i])))
        j += 1
    return plan


def exact_grid_features(native: torch.Tensor) -> torch.Tensor:
    """native frames [F, 64] -> exact_grid streaming features [N, 64]."""
    plan = exact_grid_plan(native.shape[0])
    out = torch.empty(len(plan), native.shape[1], dtype=torch.float32)
    for j, (a, c, lam) in enumerate(plan):
        out[j] = lerp_frames(native, a, c, lam)
    return out


def streaming_sliding_window(
    model: PoseModel, emg: torch.Tensor, reset_every: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One continuous session, sliding-window policy. Returns (features [N, 64], poses [N, 20])."""
    feats = sliding_window_features(model, emg)
    poses = decode_sequence(model, feats.unsqueeze(0), reset_every=reset_every)[0]
    return feats, poses


def streaming_exact_grid(
    model: PoseModel,
    emg: torch.Tensor,
    native: torch.Tensor | None = None,
    reset_every: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One continuous session, exact_grid policy. Returns (features [N, 64], poses [N, 20])."""
    if native is None:
        native = encode(model, emg)
    feats = exact_grid_features(native)
    poses = decode_sequence(model, feats.unsqueeze(0), reset_every=reset_every)[0]
    return feats, poses
