"""The int8 variant of an exported model folder (see refer/README.md, "int8 variant").

Usage (from the repository root):
    python refer/quantize.py [--models models]

Reads the fp32 graphs of the streaming step (decoder_step.onnx, encoder_incremental.onnx,
stream_step.onnx) from a folder written by export.py, checks them against its model_info.json,
and writes beside them:
    decoder_step_int8.onnx, encoder_incremental_int8.onnx, stream_step_int8.onnx,
    golden/reference_int8.mtb, and their entries in model_info.json (rewritten in place).
export.py runs this at the end of every export, so --checkpoint gets the same variant.

Dynamic int8 weights (onnxruntime.quantization.quantize_dynamic, unsigned 8-bit per tensor):
the LSTM becomes DynamicQuantizeLSTM, each MatMul DynamicQuantizeLinear + MatMulInteger
(activations quantized per run). The incremental encoder's convolutions are already matrix
products there, so they are quantized with it; encoder.onnx, encoder_incremental_init.onnx
and decoder_rollout.onnx (exact mode and the live shadow, and each session's one-off warm-up)
stay fp32 only. A rerun with the same onnxruntime writes byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import incremental as INC  # noqa: E402
from model import LSTM_HIDDEN, LSTM_LAYERS, NUM_CHANNELS, POSE_DIM, RECEPTIVE_FIELD  # noqa: E402
from tensor_bundle import encode_bundle, read_bundle, write_atomic  # noqa: E402

REPO_ROOT = os.path.dirname(HERE)
# fp32 graph -> its int8 twin (model_info.json keys; files are <key>.onnx)
VARIANTS = {"decoder_step": "decoder_step_int8", "encoder_incremental": "encoder_incremental_int8", "stream_step": "stream_step_int8"}
OP_TYPES = ["LSTM", "MatMul"]
# onnxruntime.quantization.QuantType member name. Unsigned: onnxruntime-node 1.30's linux/arm64
# library moves a QInt8 session by 6 degrees from fp32 within one block (x64: 0.014); QUInt8
# gives 0.015 on both (USAGE.md, "int8 streaming"), at the same speed on x64.
WEIGHT_TYPE = "QUInt8"
POSITION_STEPS = 12


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def quantize_bytes(fp32: bytes) -> bytes:
    """int8 graph bytes of an fp32 graph (dynamic int8 weights of its LSTMs and MatMuls)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.onnx"), os.path.join(tmp, "out.onnx")
        with open(src, "wb") as f:
            f.write(fp32)
        quantize_dynamic(src, dst, weight_type=QuantType[WEIGHT_TYPE], op_types_to_quantize=OP_TYPES, per_channel=False, reduce_range=False)
        model = onnx.load(dst)
    # quantize_dynamic names itself as producer; keep the fp32 graph's metadata, mark the variant
    props = {p.key: p.value for p in model.metadata_props}
    props["myostream.precision"] = "int8"
    del model.metadata_props[:]
    for key in sorted(props):
        e = model.metadata_props.add()
        e.key, e.value = key, props[key]
    return model.SerializeToString()


def int8_streaming_reference(inc_bytes: bytes, dec_bytes: bytes, emg_tc: np.ndarray, steps: int) -> dict[str, np.ndarray]:
    """A continuous sliding-window session through the int8 graphs (two runs per step), on one
    thread: features [steps,64] and poses [steps,20], the way the runtime's incremental encoder
    (44 zero-state warm-up steps) and decoder step drive them."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    inc = ort.InferenceSession(inc_bytes, opts, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(dec_bytes, opts, providers=["CPUExecutionProvider"])
    pad = INC.WARMUP_STEPS * INC.CHUNK + INC.CHUNK
    sig = np.concatenate([np.zeros((pad, NUM_CHANNELS), np.float32), emg_tc], axis=0)
    state = [np.zeros((1, t, c), np.float32) for _, c, t in INC.STATE_SPECS]
    h = np.zeros((LSTM_LAYERS, 1, LSTM_HIDDEN), np.float32)
    c = h.copy()
    prev = np.zeros((1, POSE_DIM), np.float32)
    feats, poses = [], []
    for q in range(-INC.WARMUP_STEPS, steps):
        end = pad + INC.CHUNK * q + RECEPTIVE_FIELD
        out = inc.run(None, {"emg": sig[None, end - INC.CHUNK : end], **dict(zip(INC.STATE_NAMES, state))})
        state = out[1:]
        if q < 0:
            continue
        pv, h, c = dec.run(None, {"input": np.concatenate([out[0], prev], axis=1), "h0": h, "c0": c})
        prev = pv[:, :POSE_DIM] if q < POSITION_STEPS else (prev + pv[:, POSE_DIM:]).astype(np.float32)
        feats.append(out[0][0])
        poses.append(prev[0])
    return {"sliding_features_int8": np.stack(feats), "streaming_sliding_window_poses_int8": np.stack(poses)}


def add_int8_variant(out_dir: str, log=print) -> dict:
    """Writes the int8 graphs and golden/reference_int8.mtb into out_dir and their entries into
    its model_info.json. Returns {file: sha256}."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import __name__ as _q  # noqa: F401  (fails early without the tools)

    info_path = os.path.join(out_dir, "model_info.json")
    with open(info_path, encoding="utf-8") as f:
        info = json.load(f)
    written = {}
    int8 = {}
    for src_key, key in VARIANTS.items():
        entry = info["models"][src_key]
        with open(os.path.join(out_dir, entry["path"]), "rb") as f:
            fp32 = f.read()
        if _sha(fp32) != entry["sha256"]:
            raise SystemExit(f"error: {entry['path']}: sha256 differs from model_info.json; re-export first")
        data = quantize_bytes(fp32)
        int8[key] = data
        path = f"{key}.onnx"
        write_atomic(os.path.join(out_dir, path), data)
        m = onnx.load_from_string(data)
        ops = sorted({n.op_type for n in m.graph.node if n.domain == "com.microsoft" or n.op_type in ("MatMulInteger", "DynamicQuantizeLinear")})
        new = {k: v for k, v in entry.items() if k not in ("incremental", "stream_step")}
        new.update({"path": path, "sha256": _sha(data), "bytes": len(data)})
        new["quantization"] = {
            "precision": "int8",
            "from": src_key,
            "from_sha256": entry["sha256"],
            "method": "onnxruntime.quantization.quantize_dynamic",
            "weight_type": WEIGHT_TYPE,
            "per_channel": False,
            "op_types": OP_TYPES,
            "operators": ops,
            "onnxruntime": ort.__version__,
        }
        info["models"][key] = new
        written[path] = new["sha256"]

    # golden: the int8 streaming session over the committed golden input
    golden = info["golden"]
    emg_tc = read_bundle(os.path.join(out_dir, golden["input"]["path"]))[0]["emg"]
    steps = (emg_tc.shape[0] - 1830) // INC.CHUNK + 1
    arrays = int8_streaming_reference(int8["encoder_incremental_int8"], int8["decoder_step_int8"], emg_tc, steps)
    fp32_poses = read_bundle(os.path.join(out_dir, golden["reference"]["path"]))[0]["streaming_sliding_window_poses"]
    dev = np.degrees(np.abs(arrays["streaming_sliding_window_poses_int8"].astype(np.float64) - fp32_poses))
    meta = {
        "precision": "int8",
        "input_sha256": golden["input"]["sha256"],
        "graphs": {k: info["models"][k]["sha256"] for k in ("encoder_incremental_int8", "decoder_step_int8")},
        "policy": "sliding_window, one continuous session, incremental encoder with 44 zero-state warm-up steps",
        "onnxruntime": ort.__version__,
        "vs_fp32_torch_sliding_window_deg": {"max": float(dev.max()), "p99": float(np.percentile(dev, 99))},
    }
    ref_bytes = encode_bundle(arrays, meta)
    ref_path = "golden/reference_int8.mtb"
    write_atomic(os.path.join(out_dir, ref_path), ref_bytes)
    golden["reference_int8"] = {"path": ref_path, "sha256": _sha(ref_bytes)}
    written[ref_path] = golden["reference_int8"]["sha256"]
    write_atomic(info_path, (json.dumps(info, indent=2, sort_keys=False) + "\n").encode("utf-8"))
    for name, digest in written.items():
        log(f"wrote {os.path.join(out_dir, name)}  sha256={digest}")
    log(f"int8 sliding-window session vs PyTorch fp32 over the golden input: max {dev.max():.4f} deg, P99 {np.percentile(dev, 99):.4f} deg")
    return written


def main(argv: list[str] | None = None) -> int:
    """CLI entry."""
    parser = argparse.ArgumentParser(description="Write the int8 variant of an exported model folder.")
    parser.add_argument("--models", default=os.path.join(REPO_ROOT, "models"), help="model folder written by export.py (default: models)")
    args = parser.parse_args(argv)
    add_int8_variant(args.models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
