"""Time the PyTorch reference's streaming step on this machine (used by `myostream bench`).

    python refer/bench_torch.py [--steps N] [--warmup W] [--threads T] [--seed S]

Sliding-window step = full encoder over the newest 1830 samples + one LSTM decoder step
(the reference's way: refer/rollout.py), fp32, torch.no_grad(), torch.set_num_threads(T). Also
times the cached (incremental) step of refer/incremental.py (module form) + the LSTM step.
Input: seeded unit-RMS noise slid by 40 samples per step (timing does not depend on values).
Prints one JSON line: {"torch", "threads", "steps", "window": {p50_ms, p95_ms, p99_ms, mean_ms},
"incremental": {...}}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import incremental as INC  # noqa: E402
from model import DEFAULT_SEED, FEATURE_DIM, NUM_CHANNELS, POSE_DIM, build_model  # noqa: E402

WINDOW = 1830
STEP = 40


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))  # nearest rank
    return s[int(k)]


def _summary(ms: list[float]) -> dict:
    return {
        "p50_ms": round(_pct(ms, 50), 4),
        "p95_ms": round(_pct(ms, 95), 4),
        "p99_ms": round(_pct(ms, 99), 4),
        "mean_ms": round(sum(ms) / len(ms), 4),
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    model = build_model(args.seed)
    total = args.warmup + args.steps
    g = torch.Generator().manual_seed(1)
    emg = torch.randn(NUM_CHANNELS, WINDOW + STEP * total, generator=g)

    def decoder_step(feature: torch.Tensor, state, prev: torch.Tensor):
        x = torch.cat([feature, prev], dim=1).unsqueeze(1)
        out, state = model.decoder(x, state)
        return out[:, 0, :POSE_DIM], state

    results = {}
    with torch.no_grad():
        # sliding window: the whole encoder over the newest 1830 samples, then one LSTM step
        state, prev, ms = model.decoder.zero_state(), torch.zeros(1, POSE_DIM), []
        for j in range(total):
            window = emg[:, STEP * j : STEP * j + WINDOW].unsqueeze(0)
            t0 = time.perf_counter()
            feature = model.network(window)[:, :, 0]
            prev, state = decoder_step(feature, state, prev)
            dt = (time.perf_counter() - t0) * 1e3
            if j >= args.warmup:
                ms.append(dt)
        results["window"] = _summary(ms)

        # cached step (module form: in eager PyTorch the export form would re-layout its
        # weights on every call) + one LSTM step
        step = INC.IncrementalEncoderStep(model.network).eval()
        enc_state = INC.zero_state()
        state, prev, ms = model.decoder.zero_state(), torch.zeros(1, POSE_DIM), []
        for j in range(-INC.WARMUP_STEPS, total):
            end = STEP * (j + INC.WARMUP_STEPS) + STEP
            chunk = emg[:, end - STEP : end].unsqueeze(0)
            t0 = time.perf_counter()
            out = step(chunk, *enc_state)
            enc_state = list(out[1:])
            if j >= 0:
                prev, state = decoder_step(out[0].reshape(1, FEATURE_DIM), state, prev)
            dt = (time.perf_counter() - t0) * 1e3
            if j >= args.warmup:
                ms.append(dt)
        results["incremental"] = _summary(ms)

    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "steps": args.steps,
                "warmup": args.warmup,
                **results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
