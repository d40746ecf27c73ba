"""Per-step latency of the reference model on a GPU (and on this host's CPU, side by side).

Run on the device machine: ``python3 refer/gpu_latency.py --out gpu_latency.json``. It times
T_compute as the plan defines it — encoder forward + single-point feature + one LSTM step,
synchronised with the GPU around each step — for the sliding-window path (1830-sample encoder
every step) and the incremental path (one cached encoder step per 40 samples), plus one exact
block (11790-sample encoder + 250 decoder steps). If Python onnxruntime offers the CUDA or
TensorRT execution provider it also runs the exported ONNX graphs there (the same graphs and
onnxruntime version the Node runtime loads), checks them against the golden features and
records session start-up time (TensorRT builds its engine at start-up).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from incremental import IncrementalEncoderStep, zero_state  # noqa: E402
from model import DEFAULT_SEED, build_model  # noqa: E402
from tensor_bundle import read_bundle  # noqa: E402

ROOT = HERE.parent


def stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "count": int(a.size),
        "p50_ms": round(float(np.percentile(a, 50)), 4),
        "p95_ms": round(float(np.percentile(a, 95)), 4),
        "p99_ms": round(float(np.percentile(a, 99)), 4),
        "mean_ms": round(float(a.mean()), 4),
        "max_ms": round(float(a.max()), 4),
    }


def timed(fn, steps: int, warmup: int, sync) -> list[float]:
    for i in range(warmup):
        fn(i)
    sync()
    out = []
    for i in range(steps):
        t0 = time.perf_counter()
        fn(warmup + i)
        sync()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def torch_paths(device: str, emg: torch.Tensor, steps: int, warmup: int) -> dict[str, object]:
    model = build_model(DEFAULT_SEED).to(device)
    enc, dec = model.network, model.decoder
    x = emg.to(device)
    total = x.shape[1]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    state = [s.to(device) for s in dec.zero_state(1)]
    prev = torch.zeros(1, 20, device=device)
    res: dict[str, object] = {}
    with torch.inference_mode():

        def lstm_step(feature: torch.Tensor) -> None:
            nonlocal state, prev
            inp = torch.cat([feature, prev], dim=1).unsqueeze(1)
            pv, st = dec(inp, tuple(state))
            state = list(st)
            prev = pv[:, 0, :20]

        def sliding(i: int) -> None:
            start = (40 * i) % (total - 1830)
            window = x[:, start : start + 1830].unsqueeze(0)
            lstm_step(enc(window)[:, :, 0])

        res["sliding_window_step"] = stats(timed(sliding, steps, warmup, sync))

        inc = IncrementalEncoderStep(enc).to(device).eval()
        inc_state = [s.to(device) for s in zero_state()]

        def incremental(i: int) -> None:
            nonlocal inc_state
            start = (40 * i) % (total - 40)
            out = inc(x[:, start : start + 40].unsqueeze(0), *inc_state)
            inc_state = list(out[1:9])
            lstm_step(out[0])

        res["incremental_step"] = stats(timed(incremental, steps, warmup, sync))
        res["lstm_step_only"] = stats(timed(lambda i: lstm_step(torch.zeros(1, 64, device=device)), steps, warmup, sync))

        def exact_block(i: int) -> None:
            start = (10000 * i) % (total - 11790 + 1)
            feats = enc(x[:, start : start + 11790].unsqueeze(0))
            feats = torch.nn.functional.interpolate(feats, size=250, mode="linear", align_corners=True)
            for t in range(250):
                lstm_step(feats[:, :, t])

        res["exact_block"] = stats(timed(exact_block, max(5, steps // 100), 2, sync))
    return res


def ort_paths(emg: np.ndarray, golden_sliding: np.ndarray, steps: int, warmup: int) -> dict[str, object]:
    try:
        import onnxruntime as ort
    except ImportError as e:
        return {"skipped": f"onnxruntime not importable: {e}"}
    out: dict[str, object] = {"version": ort.__version__, "available_providers": ort.get_available_providers()}
    for ep in ("TensorrtExecutionProvider", "CUDAExecutionProvider"):
        if ep not in ort.get_available_providers():
            out[ep] = {"skipped": "not in this onnxruntime build"}
            continue
        chain = [ep, "CUDAExecutionProvider", "CPUExecutionProvider"] if ep.startswith("Tensorrt") else [ep, "CPUExecutionProvider"]
        try:
            t0 = time.perf_counter()
            enc = ort.InferenceSession(str(ROOT / "models/encoder.onnx"), providers=chain)
            dec = ort.InferenceSession(str(ROOT / "models/decoder_step.onnx"), providers=chain)
            start_s = time.perf_counter() - t0
            window = np.ascontiguousarray(emg[:, :1830][None])
            enc.run(None, {"emg": window})  # first run builds TensorRT engines for this shape
            first_run_s = time.perf_counter() - t0 - start_s
            diffs = []
            for q in range(0, 40, 1):
                w = np.ascontiguousarray(emg[:, 40 * q : 40 * q + 1830][None])
                diffs.append(float(np.abs(enc.run(None, {"emg": w})[0][0, :, 0] - golden_sliding[q]).max()))
            h = np.zeros((2, 1, 512), np.float32)
            c = np.zeros((2, 1, 512), np.float32)
            prev = np.zeros((1, 20), np.float32)
            total = emg.shape[1]

            def step(i: int) -> None:
                nonlocal h, c, prev
                s = (40 * i) % (total - 1830)
                f = enc.run(None, {"emg": np.ascontiguousarray(emg[:, s : s + 1830][None])})[0][:, :, 0]
                pv, h, c = dec.run(None, {"input": np.concatenate([f, prev], axis=1), "h0": h, "c0": c})
                prev = pv[:, :20]

            out[ep] = {
                "providers_in_use": enc.get_providers(),
                "session_start_s": round(start_s, 3),
                "first_run_s": round(first_run_s, 3),
                "max_abs_diff_vs_golden_sliding_features": max(diffs),
                "sliding_window_step": stats(timed(step, steps, warmup, lambda: None)),
            }
        except Exception as e:  # report, don't hide: the point is to learn whether the EP works
            out[ep] = {"error": f"{type(e).__name__}: {e}"}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--out", default="gpu_latency.json")
    ap.add_argument("--cpu-threads", type=int, default=2, help="torch CPU threads for the side-by-side CPU run")
    args = ap.parse_args()
    arrays, _meta = read_bundle(str(ROOT / "models/golden/input.mtb"))
    ref, _ = read_bundle(str(ROOT / "models/golden/reference.mtb"))
    emg = np.ascontiguousarray(arrays["emg"].T)  # [16, T]
    result: dict[str, object] = {
        "machine": {"python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform(), "cpu_count": os.cpu_count()},
        "steps": args.steps,
    }
    if torch.cuda.is_available():
        result["machine"]["gpu"] = torch.cuda.get_device_name(0)  # type: ignore[index]
        result["torch_cuda"] = torch_paths("cuda", torch.from_numpy(emg), args.steps, args.warmup)
    else:
        result["torch_cuda"] = {"skipped": "torch.cuda.is_available() is False"}
    torch.set_num_threads(args.cpu_threads)
    result["torch_cpu"] = {"threads": args.cpu_threads, **torch_paths("cpu", torch.from_numpy(emg), max(200, args.steps // 4), 50)}
    result["onnxruntime"] = ort_paths(emg, ref["sliding_features"], max(200, args.steps // 4), 50)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
