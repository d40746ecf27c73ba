"""Export the pose model to ONNX and write the golden vectors (see refer/README.md).

Usage (from the repository root):
    python refer/export.py [--seed N | --checkpoint FILE [--trust-checkpoint]] [--out models]

Writes, byte-for-byte identically on a rerun with the same inputs and software:
    OUT/encoder.onnx, OUT/decoder_step.onnx, OUT/encoder_incremental.onnx,
    OUT/encoder_incremental_init.onnx, OUT/decoder_rollout.onnx, OUT/stream_step.onnx,
    OUT/golden/input.mtb,
    OUT/golden/reference.mtb, OUT/model_info.json,
    and the int8 variant (refer/quantize.py; --no-int8 skips it): OUT/decoder_step_int8.onnx,
    OUT/encoder_incremental_int8.onnx, OUT/stream_step_int8.onnx, OUT/golden/reference_int8.mtb
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import warnings

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import onnx  # noqa: E402

import incremental as INC  # noqa: E402
import rollout as R  # noqa: E402
from checkpoint import CheckpointError, load_checkpoint, sha256_file  # noqa: E402
from model import (  # noqa: E402
    DEFAULT_SEED,
    FEATURE_DIM,
    JOINT_NAMES,
    LEFT_CONTEXT,
    LSTM_HIDDEN,
    LSTM_LAYERS,
    NUM_CHANNELS,
    OUTPUT_SCALE,
    POSE_DIM,
    RECEPTIVE_FIELD,
    RIGHT_CONTEXT,
    ROLLOUT_FREQ,
    SAMPLE_RATE,
    STRIDE,
    DecoderStepExport,
    EncoderExport,
    PoseModel,
    build_model,
    chain_geometry,
    count_parameters,
)
from tensor_bundle import write_atomic, write_bundle  # noqa: E402

OPSET = 17
INPUT_SEED = 20260102  # numpy default_rng seed of the golden EMG input
INPUT_SAMPLES = 4 * R.BLOCK_STRIDE + LEFT_CONTEXT  # 41790: 4 exact blocks
EMG_SCALE = 1.0  # golden EMG RMS (arbitrary units, see README: why not volts)
EXPECTED_ENCODER_PARAMS = 2_633_856
EXPECTED_DECODER_PARAMS = 3_346_472
REPO_ROOT = os.path.dirname(HERE)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256."""
    return hashlib.sha256(data).hexdigest()


def make_golden_emg(seed: int = INPUT_SEED, num_samples: int = INPUT_SAMPLES) -> np.ndarray:
    """EMG-like [num_samples, 16] float32: band-limited (20-450 Hz) noise, light cross-talk,
    slowly varying per-channel amplitude envelopes, overall RMS about EMG_SCALE."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((num_samples, NUM_CHANNELS))
    spectrum = np.fft.rfft(noise, axis=0)
    freqs = np.fft.rfftfreq(num_samples, d=1.0 / SAMPLE_RATE)
    # smooth band-pass: raised-cosine edges 10-30 Hz and 400-500 Hz
    lo = np.clip((freqs - 10.0) / 20.0, 0.0, 1.0)
    hi = np.clip((500.0 - freqs) / 100.0, 0.0, 1.0)
    gain = (0.5 - 0.5 * np.cos(np.pi * lo)) * (0.5 - 0.5 * np.cos(np.pi * hi))
    band = np.fft.irfft(spectrum * gain[:, None], n=num_samples, axis=0)
    # cross-talk between neighbouring electrodes around the band
    mix = np.eye(NUM_CHANNELS) + 0.25 * np.roll(np.eye(NUM_CHANNELS), 1, axis=1) + 0.25 * np.roll(
        np.eye(NUM_CHANNELS), -1, axis=1
    )
    band = band @ mix
    band /= band.std(axis=0, keepdims=True)
    # per-channel activation envelopes (0.2..1.0), 0.1-1.5 Hz
    t = np.arange(num_samples) / SAMPLE_RATE
    f1 = rng.uniform(0.1, 0.6, NUM_CHANNELS)
    f2 = rng.uniform(0.5, 1.5, NUM_CHANNELS)
    p1 = rng.uniform(0.0, 2 * np.pi, NUM_CHANNELS)
    p2 = rng.uniform(0.0, 2 * np.pi, NUM_CHANNELS)
    env = 0.2 + 0.8 * (0.5 + 0.5 * np.sin(2 * np.pi * f1 * t[:, None] + p1)) * (
        0.6 + 0.4 * np.sin(2 * np.pi * f2 * t[:, None] + p2)
    )
    emg = band * env
    emg *= EMG_SCALE / np.sqrt(np.mean(emg**2))
    return emg.astype(np.float32)


def _onnx_bytes(module: torch.nn.Module, args: tuple, **kwargs) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and LSTM tracer notes
        torch.onnx.export(
            module,
            args,
            buf,
            dynamo=False,
            opset_version=OPSET,
            do_constant_folding=True,
            export_params=True,
            **kwargs,
        )
    return buf.getvalue()


def _finish_onnx(data: bytes, fixed_output_dims: dict[str, dict[int, int]], metadata: dict[str, str]) -> bytes:
    model = onnx.load_from_string(data)
    for out in model.graph.output:
        for axis, value in fixed_output_dims.get(out.name, {}).items():
            dim = out.type.tensor_type.shape.dim[axis]
            dim.Clear()
            dim.dim_value = value
    del model.metadata_props[:]
    for key in sorted(metadata):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, metadata[key]
    onnx.checker.check_model(model)
    return model.SerializeToString()


def export_encoder(model: PoseModel, metadata: dict[str, str]) -> bytes:
    """encoder.onnx bytes: emg [1,16,samples] -> features [1,64,frames]."""
    data = _onnx_bytes(
        EncoderExport(model.network).eval(),
        (torch.zeros(1, NUM_CHANNELS, R.BLOCK_SAMPLES),),
        input_names=["emg"],
        output_names=["features"],
        dynamic_axes={"emg": {2: "samples"}, "features": {2: "frames"}},
    )
    return _finish_onnx(data, {"features": {0: 1}}, metadata)


def export_decoder_step(model: PoseModel, metadata: dict[str, str]) -> bytes:
    """decoder_step.onnx bytes: input [B,84], h0, c0 [2,B,512] -> pos_vel [B,40] (x0.01), h1, c1.

    The batch axis is free so that two independent rollouts (the streaming session and its
    shadow exact block) can share one run: the step reads its 13 MB of weights once for both,
    and each row's result is that of a batch-1 run (checked in refer/tests).
    """
    state = torch.zeros(LSTM_LAYERS, 1, LSTM_HIDDEN)
    batch = {0: "batch"}
    state_batch = {1: "batch"}
    data = _onnx_bytes(
        DecoderStepExport(model.decoder).eval(),
        (torch.zeros(1, FEATURE_DIM + POSE_DIM), state, state.clone()),
        input_names=["input", "h0", "c0"],
        output_names=["pos_vel", "h1", "c1"],
        dynamic_axes={"input": batch, "h0": state_batch, "c0": state_batch, "pos_vel": batch, "h1": state_batch, "c1": state_batch},
    )
    return _finish_onnx(data, {}, metadata)


def export_encoder_incremental(model: PoseModel, metadata: dict[str, str]) -> bytes:
    """encoder_incremental.onnx bytes: one cached encoder step, all shapes fixed.

    Time-major: emg [1,40,16] (the newest 40 samples) + state_* [1,frames,channels] ->
    feature [1,64] + next_state_* (refer/incremental.py, export form). Same parameters as
    encoder.onnx (same PoseModel; convolution weights reshaped to matrices).
    """
    data = _onnx_bytes(
        INC.IncrementalEncoderStepExport(model.network).eval(),
        (torch.zeros(1, INC.CHUNK, NUM_CHANNELS), *INC.zero_state(time_major=True)),
        input_names=["emg", *INC.STATE_NAMES],
        output_names=["feature", *INC.NEXT_STATE_NAMES],
    )
    return _finish_onnx(data, {}, metadata)


def export_encoder_incremental_init(model: PoseModel, metadata: dict[str, str]) -> bytes:
    """encoder_incremental_init.onnx bytes: a session's warm-up in one run.

    emg [1,1791,16] (time-major, the session's first 1791 samples) -> feature [1,64] (frame 0)
    + next_state_* (the state after step 0, as encoder_incremental's outputs).
    """
    data = _onnx_bytes(
        INC.IncrementalEncoderInitExport(model.network).eval(),
        (torch.zeros(1, RECEPTIVE_FIELD, NUM_CHANNELS),),
        input_names=["emg"],
        output_names=["feature", *INC.NEXT_STATE_NAMES],
    )
    return _finish_onnx(data, {}, metadata)


def _copy_nodes(nodes, node_prefix: str, name_of) -> list:
    """Copies of `nodes` named node_prefix + their name, every input and output renamed by name_of."""
    out = []
    for node in nodes:
        n = onnx.NodeProto()
        n.CopyFrom(node)
        n.name = node_prefix + (node.name or node.output[0])
        n.input[:] = [name_of(i) for i in node.input]
        n.output[:] = [name_of(o) for o in node.output]
        out.append(n)
    return out


def export_decoder_rollout(dec_bytes: bytes, metadata: dict[str, str]) -> bytes:
    """decoder_rollout.onnx bytes: exact's whole decoder rollout in one ONNX Loop.

    features [points, 64] (time-major) -> poses [points, 20]. LSTM state and previous pose start
    at zero; iteration t runs decoder_step's own nodes on concat(features[t], prev), then
    prev = pos if t < POSITION_STEPS else prev + vel (rollout.decode_sequence). Built from
    decoder_step.onnx so that both graphs run the same operators on the same weights; the weights
    sit once in the outer graph and the loop body reads them from there, which lets onnxruntime
    keep them packed and in cache across the iterations instead of one run per step.
    """
    from onnx import TensorProto, helper, numpy_helper

    step = onnx.load_from_string(dec_bytes)
    sg = step.graph
    pre = "step/"
    rename = {"input": "body/input", "h0": "body/h", "c0": "body/c"}
    inits = {t.name for t in sg.initializer}

    def name_of(n: str) -> str:
        if n == "" or n in inits:
            return n
        return rename.get(n, pre + n)

    body_nodes = [
        helper.make_node("Unsqueeze", ["body/iter", "const/axis0"], ["body/iter1"]),
        helper.make_node("Gather", ["features", "body/iter1"], ["body/feat"], axis=0),  # [1, 64]
        helper.make_node("Concat", ["body/feat", "body/prev"], ["body/input"], axis=1),  # [1, 84]
    ]
    body_nodes += _copy_nodes(sg.node, pre, name_of)
    pv, h1, c1 = (name_of(o.name) for o in sg.output)
    body_nodes += [
        helper.make_node("Slice", [pv, "const/zero1", "const/pose_dim", "const/axis1"], ["body/pos"]),
        helper.make_node("Slice", [pv, "const/pose_dim", "const/two_pose_dim", "const/axis1"], ["body/vel"]),
        helper.make_node("Add", ["body/prev", "body/vel"], ["body/integrated"]),
        helper.make_node("Less", ["body/iter", "const/position_steps"], ["body/take_pos"]),
        helper.make_node("Where", ["body/take_pos", "body/pos", "body/integrated"], ["body/next_prev"]),
        helper.make_node("Identity", ["body/cond"], ["body/cond_out"]),
        helper.make_node("Identity", [h1], ["body/h_out"]),
        helper.make_node("Identity", [c1], ["body/c_out"]),
        helper.make_node("Identity", ["body/next_prev"], ["body/pose_out"]),
    ]
    state_shape = [LSTM_LAYERS, 1, LSTM_HIDDEN]
    f32 = TensorProto.FLOAT
    body = helper.make_graph(
        body_nodes,
        "rollout_step",
        [
            helper.make_tensor_value_info("body/iter", TensorProto.INT64, []),
            helper.make_tensor_value_info("body/cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("body/h", f32, state_shape),
            helper.make_tensor_value_info("body/c", f32, state_shape),
            helper.make_tensor_value_info("body/prev", f32, [1, POSE_DIM]),
        ],
        [
            helper.make_tensor_value_info("body/cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("body/h_out", f32, state_shape),
            helper.make_tensor_value_info("body/c_out", f32, state_shape),
            helper.make_tensor_value_info("body/next_prev", f32, [1, POSE_DIM]),
            helper.make_tensor_value_info("body/pose_out", f32, [1, POSE_DIM]),
        ],
    )
    i64 = lambda name, vals: numpy_helper.from_array(np.array(vals, dtype=np.int64), name)  # noqa: E731
    consts = [
        i64("const/axis0", [0]),
        i64("const/axis1", [1]),
        i64("const/zero1", [0]),
        i64("const/pose_dim", [POSE_DIM]),
        i64("const/two_pose_dim", [2 * POSE_DIM]),
        numpy_helper.from_array(np.array(R.POSITION_STEPS, dtype=np.int64), "const/position_steps"),
        numpy_helper.from_array(np.array(True), "const/true"),
        numpy_helper.from_array(np.zeros(state_shape, np.float32), "const/zero_state"),
        numpy_helper.from_array(np.zeros([1, POSE_DIM], np.float32), "const/zero_pose"),
    ]
    outer_nodes = [
        helper.make_node("Shape", ["features"], ["outer/shape"]),
        helper.make_node("Gather", ["outer/shape", "const/scalar0"], ["outer/points"], axis=0),
        helper.make_node(
            "Loop",
            ["outer/points", "const/true", "const/zero_state", "const/zero_state", "const/zero_pose"],
            ["outer/h", "outer/c", "outer/prev", "outer/poses3"],
            body=body,
        ),
        helper.make_node("Squeeze", ["outer/poses3", "const/axis1"], ["poses"]),
    ]
    consts.append(numpy_helper.from_array(np.array(0, dtype=np.int64), "const/scalar0"))
    graph = helper.make_graph(
        outer_nodes,
        "decoder_rollout",
        [helper.make_tensor_value_info("features", f32, ["points", FEATURE_DIM])],
        [helper.make_tensor_value_info("poses", f32, ["points", POSE_DIM])],
        initializer=[*sg.initializer, *consts],
    )
    model = helper.make_model(graph, opset_imports=list(step.opset_import), producer_name="myostream refer/export.py")
    model.ir_version = step.ir_version
    return _finish_onnx(model.SerializeToString(), {}, metadata)


def export_stream_step(inc_bytes: bytes, dec_bytes: bytes, metadata: dict[str, str]) -> bytes:
    """stream_step.onnx bytes: one streaming step (cached encoder step + decoder step) in one run.

    Built from encoder_incremental.onnx's and decoder_step.onnx's own nodes and weights, so it
    computes exactly what the two graphs compute one after the other; the runtime saves the
    second session.run per 20 ms step. Inputs: the cached step's (emg, state_*), then
    base [1,64], mix [2], prev [1,20], rows [extra,84], h0/c0 [2,1+extra,512]. The decoder's
    feature is fround(base*mix[0] + fround(feature*mix[1])), evaluated in double as the
    runtime's (and ATen's) linear interpolation: base = the older native frame and mix = its
    weights when the step's point lies between it and the frame this run computes; base = the
    finished feature and mix = (1, 0) when both frames are older; base = 0, mix = (0, 1) for the
    sliding window. Row 0 of the decoder batch is [that feature, prev]; `rows` are further
    rollouts (the live shadow) sharing the weight pass. Outputs: feature, next_state_*,
    pos_vel [1+extra,40], h1, c1.
    """
    from onnx import TensorProto, helper, numpy_helper

    enc = onnx.load_from_string(inc_bytes).graph
    dec = onnx.load_from_string(dec_bytes).graph
    enc_io = {v.name for v in enc.input} | {v.name for v in enc.output}
    dec_io = {"input": "dec/input", "h0": "h0", "c0": "c0", "pos_vel": "pos_vel", "h1": "h1", "c1": "c1"}

    def copy_nodes(g, prefix: str, keep):
        inits = []
        for t in g.initializer:
            t2 = onnx.TensorProto()
            t2.CopyFrom(t)
            t2.name = prefix + t.name
            inits.append(t2)
        init_names = {t.name for t in g.initializer}

        def name_of(n: str) -> str:
            if n == "":
                return n
            if n in init_names:
                return prefix + n
            return keep(n)

        return _copy_nodes(g.node, prefix, name_of), inits

    enc_nodes, enc_inits = copy_nodes(enc, "enc/", lambda n: n if n in enc_io else "enc/" + n)
    dec_nodes, dec_inits = copy_nodes(dec, "dec/", lambda n: dec_io.get(n, "dec/" + n))
    f32, f64 = TensorProto.FLOAT, TensorProto.DOUBLE
    mix_nodes = [
        helper.make_node("Gather", ["mix", "mix/i0"], ["mix/w0"], axis=0),
        helper.make_node("Gather", ["mix", "mix/i1"], ["mix/w1"], axis=0),
        helper.make_node("Mul", ["feature", "mix/w1"], ["mix/q"]),  # float32 product, rounded once
        helper.make_node("Cast", ["mix/q"], ["mix/q64"], to=f64),
        helper.make_node("Cast", ["base"], ["mix/base64"], to=f64),
        helper.make_node("Cast", ["mix/w0"], ["mix/w064"], to=f64),
        helper.make_node("Mul", ["mix/base64", "mix/w064"], ["mix/p64"]),  # exact in double
        helper.make_node("Add", ["mix/p64", "mix/q64"], ["mix/s64"]),
        helper.make_node("Cast", ["mix/s64"], ["mix/feature"], to=f32),
        helper.make_node("Concat", ["mix/feature", "prev"], ["mix/row0"], axis=1),
        helper.make_node("Concat", ["mix/row0", "rows"], ["dec/input"], axis=0),
    ]
    consts = [
        numpy_helper.from_array(np.array(0, dtype=np.int64), "mix/i0"),
        numpy_helper.from_array(np.array(1, dtype=np.int64), "mix/i1"),
    ]
    state_shape = [LSTM_LAYERS, "batch", LSTM_HIDDEN]
    inputs = [*enc.input]
    inputs += [
        helper.make_tensor_value_info("base", f32, [1, FEATURE_DIM]),
        helper.make_tensor_value_info("mix", f32, [2]),
        helper.make_tensor_value_info("prev", f32, [1, POSE_DIM]),
        helper.make_tensor_value_info("rows", f32, ["extra", FEATURE_DIM + POSE_DIM]),
        helper.make_tensor_value_info("h0", f32, state_shape),
        helper.make_tensor_value_info("c0", f32, state_shape),
    ]
    outputs = [*enc.output]
    outputs += [
        helper.make_tensor_value_info("pos_vel", f32, ["batch", 2 * POSE_DIM]),
        helper.make_tensor_value_info("h1", f32, state_shape),
        helper.make_tensor_value_info("c1", f32, state_shape),
    ]
    graph = helper.make_graph(
        [*enc_nodes, *mix_nodes, *dec_nodes], "stream_step", inputs, outputs, initializer=[*enc_inits, *dec_inits, *consts]
    )
    step = onnx.load_from_string(dec_bytes)
    model = helper.make_model(graph, opset_imports=list(step.opset_import), producer_name="myostream refer/export.py")
    model.ir_version = step.ir_version
    return _finish_onnx(model.SerializeToString(), {}, metadata)


def incremental_info() -> dict:
    """Extra model_info.json block of encoder_incremental: how to drive the step."""
    return {
        "layout": "time-major: emg [1, 40, 16], state [1, frames, channels]",
        "chunk_samples": INC.CHUNK,
        "warmup_steps": INC.WARMUP_STEPS,
        "step": "step q of a session with origin o reads samples [o+40q+1751, o+40q+1791) "
        "(samples before o read as zeros) and outputs the encoder frame of [o+40q, o+40q+1791); "
        "the session starts from all-zero state at step -warmup_steps, or runs init_model once on "
        "samples [o, o+1791) to get frame 0 and the state after step 0",
        "init_model": "encoder_incremental_init",
        "state": [
            {"input": name, "output": nxt, "shape": [1, t, c]}
            for (name, c, t), nxt in zip(INC.STATE_SPECS, INC.NEXT_STATE_NAMES)
        ],
    }


def _io_info(values) -> list[dict]:
    out = []
    for v in values:
        tt = v.type.tensor_type
        shape = [d.dim_param if d.dim_param else int(d.dim_value) for d in tt.shape.dim]
        out.append({"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name, "shape": shape})
    return out


def model_file_info(rel_path: str, data: bytes, parameters: int) -> dict:
    """Entry of model_info.json for one ONNX file."""
    m = onnx.load_from_string(data)
    opset = max(op.version for op in m.opset_import if op.domain in ("", "ai.onnx"))
    return {
        "path": rel_path,
        "sha256": sha256_bytes(data),
        "bytes": len(data),
        "opset": opset,
        "inputs": _io_info(m.graph.input),
        "outputs": _io_info(m.graph.output),
        "parameters": parameters,
    }


def geometry() -> dict:
    """Geometry block of model_info.json (and reference.mtb meta)."""
    return {
        "sample_rate": SAMPLE_RATE,
        "num_channels": NUM_CHANNELS,
        "left_context": LEFT_CONTEXT,
        "right_context": RIGHT_CONTEXT,
        "receptive_field": RECEPTIVE_FIELD,
        "stride": STRIDE,
        "feature_dim": FEATURE_DIM,
        "rollout_freq": ROLLOUT_FREQ,
        "position_steps": R.POSITION_STEPS,
        "output_scale": OUTPUT_SCALE,
        "output_scale_in_decoder_step": True,
        "lstm_layers": LSTM_LAYERS,
        "lstm_hidden": LSTM_HIDDEN,
        "pose_dim": POSE_DIM,
        "decoder_input_dim": FEATURE_DIM + POSE_DIM,
        "block_stride": R.BLOCK_STRIDE,
        "block_samples": R.BLOCK_SAMPLES,
        "block_frames": R.BLOCK_FRAMES,
        "block_points": R.BLOCK_POINTS,
        "window_samples": R.WINDOW_SAMPLES,
        "step_samples": R.STEP_SAMPLES,
        "joint_names": list(JOINT_NAMES),
    }


def _stats(a: torch.Tensor, b: torch.Tensor) -> dict:
    d = (a.double() - b.double())
    return {"mse": float(d.pow(2).mean()), "max_abs_diff": float(d.abs().max())}


def compute_reference(model: PoseModel, emg_tc: np.ndarray) -> tuple[dict[str, np.ndarray], dict]:
    """All golden arrays from PyTorch (fp32) plus measured comparisons."""
    emg = torch.from_numpy(np.ascontiguousarray(emg_tc.T))  # [16, T]
    native = R.encode(model, emg)  # [500, 64]
    exact_feats, exact_poses = R.exact_rollout(model, emg)  # [4,250,64], [4,250,20]
    poses_2k = R.upsample_block_poses(exact_poses[0])  # [10000, 20]
    sw_feats, sw_poses = R.streaming_sliding_window(model, emg)  # [1000,64], [1000,20]
    eg_feats, eg_poses = R.streaming_exact_grid(model, emg, native=native)  # [N,64], [N,20]

    nb = exact_poses.shape[0]
    n_aligned = nb * R.BLOCK_POINTS
    sw_reset = R.decode_sequence(model, sw_feats[:n_aligned].unsqueeze(0), reset_every=R.BLOCK_POINTS)[0]
    eg_reset = R.decode_sequence(model, eg_feats[:n_aligned].unsqueeze(0), reset_every=R.BLOCK_POINTS)[0]
    flat_exact_poses = exact_poses.reshape(-1, POSE_DIM)
    flat_exact_feats = exact_feats.reshape(-1, FEATURE_DIM)
    comparisons = {
        "sliding_window_reset_per_block_vs_exact_poses": _stats(sw_reset, flat_exact_poses),
        "sliding_window_vs_exact_features": _stats(sw_feats[:n_aligned], flat_exact_feats),
        "sliding_window_continuous_vs_exact_poses": _stats(sw_poses[:n_aligned], flat_exact_poses),
        "exact_grid_reset_per_block_vs_exact_poses": _stats(eg_reset, flat_exact_poses),
        "exact_grid_vs_exact_features": _stats(eg_feats[:n_aligned], flat_exact_feats),
        "exact_grid_continuous_vs_exact_poses": _stats(eg_poses[:n_aligned], flat_exact_poses),
    }
    arrays = {
        "native_frames": native.numpy(),
        "sliding_features": sw_feats.numpy(),
        "exact_features": exact_feats.numpy(),
        "exact_poses": exact_poses.numpy(),
        "exact_poses_2khz_block0": poses_2k.numpy(),
        "streaming_sliding_window_poses": sw_poses.numpy(),
        "exact_grid_features": eg_feats.numpy(),
        "streaming_exact_grid_poses": eg_poses.numpy(),
    }
    return arrays, comparisons


def ort_crosscheck(
    enc_bytes: bytes,
    dec_bytes: bytes,
    emg_tc: np.ndarray,
    arrays: dict,
    inc_bytes: bytes | None = None,
    init_bytes: bytes | None = None,
    rollout_bytes: bytes | None = None,
    stream_bytes: bytes | None = None,
) -> dict | None:
    """Max |ONNX Runtime - PyTorch| on the golden input, if python onnxruntime is installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    enc = ort.InferenceSession(enc_bytes, opts, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(dec_bytes, opts, providers=["CPUExecutionProvider"])
    emg = np.ascontiguousarray(emg_tc.T)[None]  # [1,16,T]
    full = enc.run(None, {"emg": emg})[0][0].T
    win = np.stack(
        [
            enc.run(None, {"emg": np.ascontiguousarray(emg[:, :, j * R.STEP_SAMPLES : j * R.STEP_SAMPLES + R.WINDOW_SAMPLES])})[0][0, :, 0]
            for j in range(0, 40)
        ]
    )
    # exact block 0 decoder rollout through decoder_step.onnx, on the torch features
    feats = arrays["exact_features"][0]
    h = np.zeros((LSTM_LAYERS, 1, LSTM_HIDDEN), np.float32)
    c = h.copy()
    prev = np.zeros((1, POSE_DIM), np.float32)
    poses = []
    for t in range(feats.shape[0]):
        x = np.concatenate([feats[t : t + 1], prev], axis=1).astype(np.float32)
        pv, h, c = dec.run(None, {"input": x, "h0": h, "c0": c})
        prev = pv[:, :POSE_DIM] if t < R.POSITION_STEPS else (prev + pv[:, POSE_DIM:]).astype(np.float32)
        poses.append(prev[0])
    poses = np.stack(poses)
    extra = {}
    if rollout_bytes is not None:
        # the whole block in one Loop run, vs the step-by-step rollout above and vs PyTorch
        roll = ort.InferenceSession(rollout_bytes, opts, providers=["CPUExecutionProvider"])
        looped = roll.run(None, {"features": np.ascontiguousarray(feats)})[0]
        extra["decoder_rollout_block0_vs_decoder_step_rollout"] = float(np.abs(looped - poses).max())
        extra["decoder_rollout_block0_vs_exact_poses"] = float(np.abs(looped - arrays["exact_poses"][0]).max())
        # a batch of two rows gives each row's batch-1 result (the live shadow shares runs)
        x = np.random.default_rng(3).standard_normal((2, FEATURE_DIM + POSE_DIM)).astype(np.float32)
        hb = (0.3 * np.random.default_rng(4).standard_normal((LSTM_LAYERS, 2, LSTM_HIDDEN))).astype(np.float32)
        pv2, h2, c2 = dec.run(None, {"input": x, "h0": hb, "c0": 2 * hb})
        worst = 0.0
        for b in range(2):
            pv1, h1, c1 = dec.run(None, {"input": x[b : b + 1], "h0": hb[:, b : b + 1].copy(), "c0": 2 * hb[:, b : b + 1]})
            worst = max(worst, float(np.abs(pv2[b] - pv1[0]).max()), float(np.abs(h2[:, b] - h1[:, 0]).max()), float(np.abs(c2[:, b] - c1[:, 0]).max()))
        extra["decoder_step_batch2_vs_batch1"] = worst
    if inc_bytes is not None:
        # incremental step over the whole golden input vs the PyTorch sliding-window features
        inc = ort.InferenceSession(inc_bytes, opts, providers=["CPUExecutionProvider"])
        pad = INC.WARMUP_STEPS * INC.CHUNK + INC.CHUNK
        sig = np.concatenate([np.zeros((pad, NUM_CHANNELS), np.float32), emg_tc], axis=0)  # time-major
        state = [np.zeros((1, t, c), np.float32) for _, c, t in INC.STATE_SPECS]
        sw = arrays["sliding_features"]
        feats = []
        for q in range(-INC.WARMUP_STEPS, sw.shape[0]):
            end = pad + INC.CHUNK * q + RECEPTIVE_FIELD
            out = inc.run(None, {"emg": sig[None, end - INC.CHUNK : end], **dict(zip(INC.STATE_NAMES, state))})
            state = out[1:]
            if q >= 0:
                feats.append(out[0][0])
        feats = np.stack(feats)
        extra |= {
            "encoder_incremental_vs_sliding_features": float(np.abs(feats - sw).max()),
            "encoder_incremental_even_vs_native_frames": float(np.abs(feats[0::2] - arrays["native_frames"]).max()),
        }
        if init_bytes is not None:
            # warm-up by the init graph, then steps 1..: the same features
            init = ort.InferenceSession(init_bytes, opts, providers=["CPUExecutionProvider"])
            out = init.run(None, {"emg": sig[None, pad : pad + RECEPTIVE_FIELD]})
            state, feats2 = out[1:], [out[0][0]]
            for q in range(1, sw.shape[0]):
                end = pad + INC.CHUNK * q + RECEPTIVE_FIELD
                out = inc.run(None, {"emg": sig[None, end - INC.CHUNK : end], **dict(zip(INC.STATE_NAMES, state))})
                state = out[1:]
                feats2.append(out[0][0])
            extra["encoder_incremental_with_init_vs_sliding_features"] = float(np.abs(np.stack(feats2) - sw).max())
        if stream_bytes is not None:
            extra["stream_step_vs_two_runs"] = _stream_step_crosscheck(ort, opts, stream_bytes, inc, dec, sig, pad)
    return {
        **extra,
        "onnxruntime": ort.__version__,
        "encoder_full_input_vs_native_frames": float(np.abs(full - arrays["native_frames"]).max()),
        "encoder_1830_windows_vs_sliding_features(first 40)": float(np.abs(win - arrays["sliding_features"][:40]).max()),
        "decoder_step_block0_vs_exact_poses": float(np.abs(poses - arrays["exact_poses"][0]).max()),
    }


def _stream_step_crosscheck(ort, opts, stream_bytes: bytes, inc, dec, sig: np.ndarray, pad: int) -> float:
    """Max |stream_step - (encoder_incremental then decoder_step)| over 60 golden steps.

    Covers the three feature forms (new frame, interpolation onto the new frame, a finished
    feature) and a second decoder row; every output is compared, the state included.
    """
    fused = ort.InferenceSession(stream_bytes, opts, providers=["CPUExecutionProvider"])
    f32 = np.float32
    rng = np.random.default_rng(5)
    state = [np.zeros((1, t, c), f32) for _, c, t in INC.STATE_SPECS]
    h = np.zeros((LSTM_LAYERS, 1, LSTM_HIDDEN), f32)
    c = h.copy()
    prev = np.zeros((1, POSE_DIM), f32)
    older = np.zeros((1, FEATURE_DIM), f32)
    worst = 0.0
    for q in range(-INC.WARMUP_STEPS, 60):
        end = pad + INC.CHUNK * q + RECEPTIVE_FIELD
        emg = sig[None, end - INC.CHUNK : end]
        feeds = {"emg": emg, **dict(zip(INC.STATE_NAMES, state))}
        out = inc.run(None, feeds)
        if q < 0:
            state = out[1:]
            continue
        new = out[0]
        form = q % 3
        if form == 0:
            base, w0, w1 = np.zeros_like(new), f32(0), f32(1)
        elif form == 1:
            w1 = f32(0.49799197)
            base, w0 = older, f32(1) - w1
        else:
            base, w0, w1 = (0.5 * (older + new)).astype(f32), f32(1), f32(0)
        feat = (base.astype(np.float64) * float(w0) + (new * w1).astype(f32).astype(np.float64)).astype(f32)
        extra = rng.standard_normal((q % 2, FEATURE_DIM + POSE_DIM)).astype(f32)
        hb = np.concatenate([h, (0.1 * rng.standard_normal((LSTM_LAYERS, q % 2, LSTM_HIDDEN))).astype(f32)], axis=1)
        cb = np.concatenate([c, (0.1 * rng.standard_normal((LSTM_LAYERS, q % 2, LSTM_HIDDEN))).astype(f32)], axis=1)
        x = np.concatenate([np.concatenate([feat, prev], axis=1), extra], axis=0)
        pv, h1, c1 = dec.run(None, {"input": x, "h0": hb, "c0": cb})
        got = fused.run(None, {**feeds, "base": base, "mix": np.array([w0, w1], f32), "prev": prev, "rows": extra, "h0": hb, "c0": cb})
        for a, b in zip(got, [*out, pv, h1, c1]):
            worst = max(worst, float(np.abs(a - b).max()))
        state, h, c = out[1:], h1[:, :1], c1[:, :1]
        prev = pv[:1, :POSE_DIM]
        older = new
    return worst


def run_export(out_dir: str, model: PoseModel, weights: dict, crosscheck: bool = True, quiet: bool = False, int8: bool = True) -> dict:
    """Write all artefacts into out_dir; returns a summary dict."""
    log = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    enc_params = count_parameters(model.network)
    dec_params = count_parameters(model.decoder)
    assert abs(enc_params - 2.63e6) / 2.63e6 < 0.01 and enc_params == EXPECTED_ENCODER_PARAMS, enc_params
    assert abs(dec_params - 3.35e6) / 3.35e6 < 0.01 and dec_params == EXPECTED_DECODER_PARAMS, dec_params
    assert chain_geometry() == (RECEPTIVE_FIELD, STRIDE)

    weights_text = json.dumps(weights, sort_keys=True, separators=(",", ":"))
    metadata = {"myostream.weights": weights_text, "myostream.geometry": "left_context=1790,stride=80"}
    enc_bytes = export_encoder(model, {**metadata, "myostream.role": "encoder"})
    dec_bytes = export_decoder_step(model, {**metadata, "myostream.role": "decoder_step"})
    inc_bytes = export_encoder_incremental(model, {**metadata, "myostream.role": "encoder_incremental"})
    init_bytes = export_encoder_incremental_init(model, {**metadata, "myostream.role": "encoder_incremental_init"})
    rollout_bytes = export_decoder_rollout(dec_bytes, {**metadata, "myostream.role": "decoder_rollout"})
    stream_bytes = export_stream_step(inc_bytes, dec_bytes, {**metadata, "myostream.role": "stream_step"})

    emg_tc = make_golden_emg()
    input_meta = {
        "sample_rate": SAMPLE_RATE,
        "seed": INPUT_SEED,
        "generator": "numpy.random.default_rng(seed); band-limited 20-450 Hz noise, neighbour cross-talk, "
        "per-channel 0.1-1.5 Hz envelopes",
        "units": "arbitrary, overall RMS 1.0",
        "num_samples": int(emg_tc.shape[0]),
        "num_channels": NUM_CHANNELS,
    }
    from tensor_bundle import encode_bundle

    input_bytes = encode_bundle({"emg": emg_tc}, input_meta)

    log("computing reference rollouts ...")
    arrays, comparisons = compute_reference(model, emg_tc)
    ref_meta = {
        "weights": weights,
        "input_seed": INPUT_SEED,
        "input_sha256": sha256_bytes(input_bytes),
        "position_steps": R.POSITION_STEPS,
        "num_exact_blocks": int(arrays["exact_poses"].shape[0]),
        "num_sliding_steps": int(arrays["sliding_features"].shape[0]),
        "num_exact_grid_steps": int(arrays["streaming_exact_grid_poses"].shape[0]),
        "geometry": geometry(),
        "comparisons": comparisons,
    }
    ref_bytes = encode_bundle(arrays, ref_meta)

    os.makedirs(os.path.join(out_dir, "golden"), exist_ok=True)
    write_atomic(os.path.join(out_dir, "encoder.onnx"), enc_bytes)
    write_atomic(os.path.join(out_dir, "decoder_step.onnx"), dec_bytes)
    write_atomic(os.path.join(out_dir, "encoder_incremental.onnx"), inc_bytes)
    write_atomic(os.path.join(out_dir, "encoder_incremental_init.onnx"), init_bytes)
    write_atomic(os.path.join(out_dir, "decoder_rollout.onnx"), rollout_bytes)
    write_atomic(os.path.join(out_dir, "stream_step.onnx"), stream_bytes)
    write_atomic(os.path.join(out_dir, "golden", "input.mtb"), input_bytes)
    write_atomic(os.path.join(out_dir, "golden", "reference.mtb"), ref_bytes)

    info = {
        "format": "myostream-model-info",
        "version": 1,
        "models": {
            "encoder": model_file_info("encoder.onnx", enc_bytes, enc_params),
            "decoder_step": model_file_info("decoder_step.onnx", dec_bytes, dec_params),
            "encoder_incremental": {
                **model_file_info("encoder_incremental.onnx", inc_bytes, enc_params),
                "incremental": incremental_info(),
            },
            "encoder_incremental_init": model_file_info("encoder_incremental_init.onnx", init_bytes, enc_params),
            "decoder_rollout": {
                **model_file_info("decoder_rollout.onnx", rollout_bytes, dec_params),
                "rollout": {
                    "loop": "ONNX Loop over decoder_step's nodes, one iteration per 50 Hz point",
                    "initial_state": "zeros (LSTM h, c and the previous pose), as each exact block",
                    "position_steps": R.POSITION_STEPS,
                    "update": "prev = pos if t < position_steps else prev + vel",
                },
            },
            "stream_step": {
                **model_file_info("stream_step.onnx", stream_bytes, enc_params + dec_params),
                "stream_step": {
                    "graphs": ["encoder_incremental", "decoder_step"],
                    "feature": "fround(base*mix[0] + fround(feature*mix[1])) in double",
                    "decoder_batch": "row 0 = [feature, prev], then rows",
                },
            },
        },
        "geometry": geometry(),
        "weights": weights,
        "parameter_counts": {"encoder": enc_params, "decoder": dec_params, "total": enc_params + dec_params},
        "golden": {
            "input": {"path": "golden/input.mtb", "sha256": sha256_bytes(input_bytes), "seed": INPUT_SEED},
            "reference": {"path": "golden/reference.mtb", "sha256": sha256_bytes(ref_bytes)},
        },
        "exporter": {
            "torch": torch.__version__.split("+")[0],
            "onnx": onnx.__version__,
            "method": "torch.onnx.export(dynamo=False)",
            "opset": OPSET,
        },
    }
    info_bytes = (json.dumps(info, indent=2, sort_keys=False) + "\n").encode("utf-8")
    write_atomic(os.path.join(out_dir, "model_info.json"), info_bytes)

    summary = {
        "files": {
            "encoder.onnx": sha256_bytes(enc_bytes),
            "decoder_step.onnx": sha256_bytes(dec_bytes),
            "encoder_incremental.onnx": sha256_bytes(inc_bytes),
            "encoder_incremental_init.onnx": sha256_bytes(init_bytes),
            "decoder_rollout.onnx": sha256_bytes(rollout_bytes),
            "stream_step.onnx": sha256_bytes(stream_bytes),
            "golden/input.mtb": sha256_bytes(input_bytes),
            "golden/reference.mtb": sha256_bytes(ref_bytes),
            "model_info.json": sha256_bytes(info_bytes),
        },
        "parameter_counts": info["parameter_counts"],
        "comparisons": comparisons,
    }
    for name, digest in summary["files"].items():
        log(f"wrote {os.path.join(out_dir, name)}  sha256={digest}")
    if int8:
        # the int8 variant of the streaming step (refer/quantize.py); rewrites model_info.json
        from quantize import add_int8_variant

        summary["files"].update(add_int8_variant(out_dir, log=log))
        with open(os.path.join(out_dir, "model_info.json"), "rb") as f:
            summary["files"]["model_info.json"] = sha256_bytes(f.read())
    log(f"parameters: encoder={enc_params} decoder={dec_params}")
    for name, st in comparisons.items():
        log(f"{name}: mse={st['mse']:.3e} max_abs_diff={st['max_abs_diff']:.3e}")
    if crosscheck:
        cc = ort_crosscheck(enc_bytes, dec_bytes, emg_tc, arrays, inc_bytes, init_bytes, rollout_bytes, stream_bytes)
        summary["onnxruntime_crosscheck"] = cc
        if cc is None:
            log("onnxruntime not installed: ONNX cross-check skipped")
        else:
            for k, v in cc.items():
                log(f"onnxruntime cross-check {k}: {v if isinstance(v, str) else f'{v:.3e}'}")
    return summary


def main(argv: list[str] | None = None) -> int:
    """CLI entry."""
    parser = argparse.ArgumentParser(description="Export ONNX models and golden vectors.")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--seed", type=int, default=None, help=f"seeded default-init weights (default {DEFAULT_SEED})")
    src.add_argument("--checkpoint", help="upstream Lightning .ckpt to import")
    parser.add_argument("--trust-checkpoint", action="store_true", help="allow torch.load(weights_only=False)")
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "models"), help="output folder (default: models)")
    parser.add_argument("--no-crosscheck", action="store_true", help="skip the onnxruntime cross-check")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 variant (refer/quantize.py; needs onnxruntime)")
    args = parser.parse_args(argv)

    if args.checkpoint:
        try:
            model = load_checkpoint(args.checkpoint, trust=args.trust_checkpoint)
        except (CheckpointError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        weights = {"checkpoint": os.path.basename(args.checkpoint), "sha256": sha256_file(args.checkpoint)}
    else:
        seed = DEFAULT_SEED if args.seed is None else args.seed
        model = build_model(seed)
        weights = {"seed": seed}
    if not args.no_int8:
        try:
            import onnxruntime.quantization  # noqa: F401
        except ImportError:
            print("error: the int8 variant needs onnxruntime (pip install onnxruntime), or pass --no-int8", file=sys.stderr)
            return 2
    run_export(args.out, model, weights, crosscheck=not args.no_crosscheck, int8=not args.no_int8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
