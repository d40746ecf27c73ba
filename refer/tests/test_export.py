"""Export: byte-identical reruns, ONNX interface, agreement with the committed models/."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest

from conftest import REPO_ROOT

FILES = ["encoder.onnx", "decoder_step.onnx", "encoder_incremental.onnx", "encoder_incremental_init.onnx", "decoder_rollout.onnx", "stream_step.onnx", "golden/input.mtb", "golden/reference.mtb", "model_info.json", "decoder_step_int8.onnx", "encoder_incremental_int8.onnx", "stream_step_int8.onnx", "golden/reference_int8.mtb"]


@pytest.mark.slow
def test_export_is_deterministic(tmp_path):
    from export import run_export
    from model import DEFAULT_SEED, build_model

    a, b = tmp_path / "a", tmp_path / "b"
    run_export(str(a), build_model(DEFAULT_SEED), {"seed": DEFAULT_SEED}, crosscheck=False, quiet=True)
    run_export(str(b), build_model(DEFAULT_SEED), {"seed": DEFAULT_SEED}, crosscheck=False, quiet=True)
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert not [p for p in os.listdir(a) if p.startswith(".tmp-")]

    info = json.loads((a / "model_info.json").read_text())
    enc = info["models"]["encoder"]
    assert enc["inputs"] == [{"name": "emg", "dtype": "float32", "shape": [1, 16, "samples"]}]
    assert enc["outputs"] == [{"name": "features", "dtype": "float32", "shape": [1, 64, "frames"]}]
    dec = info["models"]["decoder_step"]
    assert [i["name"] for i in dec["inputs"]] == ["input", "h0", "c0"]
    assert [o["shape"] for o in dec["outputs"]] == [["batch", 40], [2, "batch", 512], [2, "batch", 512]]
    roll = info["models"]["decoder_rollout"]
    assert roll["inputs"] == [{"name": "features", "dtype": "float32", "shape": ["points", 64]}]
    assert roll["outputs"] == [{"name": "poses", "dtype": "float32", "shape": ["points", 20]}]
    assert roll["rollout"]["position_steps"] == 12 and roll["parameters"] == dec["parameters"]
    assert enc["opset"] >= 17 and info["geometry"]["position_steps"] == 12
    assert info["weights"] == {"seed": DEFAULT_SEED}
    inc = info["models"]["encoder_incremental"]
    from incremental import NEXT_STATE_NAMES, STATE_NAMES, STATE_SPECS, WARMUP_STEPS

    assert [i["name"] for i in inc["inputs"]] == ["emg", *STATE_NAMES]
    assert [o["name"] for o in inc["outputs"]] == ["feature", *NEXT_STATE_NAMES]
    assert inc["inputs"][0]["shape"] == [1, 40, 16] and inc["outputs"][0]["shape"] == [1, 64]
    shapes = [[1, t, c] for _, c, t in STATE_SPECS]
    assert [i["shape"] for i in inc["inputs"][1:]] == shapes == [o["shape"] for o in inc["outputs"][1:]]
    assert inc["incremental"]["warmup_steps"] == WARMUP_STEPS and inc["parameters"] == enc["parameters"]
    init = info["models"]["encoder_incremental_init"]
    assert init["inputs"] == [{"name": "emg", "dtype": "float32", "shape": [1, 1791, 16]}]
    assert [o["name"] for o in init["outputs"]] == ["feature", *NEXT_STATE_NAMES]
    assert [o["shape"] for o in init["outputs"][1:]] == shapes
    step = info["models"]["stream_step"]
    assert [i["name"] for i in step["inputs"]] == ["emg", *STATE_NAMES, "base", "mix", "prev", "rows", "h0", "c0"]
    assert [o["name"] for o in step["outputs"]] == ["feature", *NEXT_STATE_NAMES, "pos_vel", "h1", "c1"]
    assert step["parameters"] == enc["parameters"] + dec["parameters"]
    m = onnx.load(str(a / "encoder.onnx"))
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)

    # the committed models/ come from the same code (ONNX bytes identical, arrays close)
    committed = os.path.join(REPO_ROOT, "models")
    if os.path.exists(os.path.join(committed, "model_info.json")):
        cinfo = json.load(open(os.path.join(committed, "model_info.json")))
        if cinfo["weights"] == {"seed": DEFAULT_SEED}:
            for name in ["encoder.onnx", "decoder_step.onnx", "encoder_incremental.onnx", "encoder_incremental_init.onnx", "decoder_rollout.onnx", "stream_step.onnx"]:
                assert open(os.path.join(committed, name), "rb").read() == (a / name).read_bytes(), name
            from tensor_bundle import read_bundle

            fresh, _ = read_bundle(a / "golden" / "reference.mtb")
            old, _ = read_bundle(os.path.join(committed, "golden", "reference.mtb"))
            assert list(fresh) == list(old)
            for k in fresh:
                assert np.abs(fresh[k] - old[k]).max() <= 1e-5, k


def test_rollout_graph_matches_stepped_rollout_and_batch_rows():
    """decoder_rollout.onnx = decoder_step.onnx stepped 250 times; a batch-2 step = two batch-1 steps."""
    ort = pytest.importorskip("onnxruntime")
    from export import export_decoder_rollout

    committed = os.path.join(REPO_ROOT, "models")
    dec_bytes = open(os.path.join(committed, "decoder_step.onnx"), "rb").read()
    assert export_decoder_rollout(dec_bytes, {"k": "v"}) == export_decoder_rollout(dec_bytes, {"k": "v"})
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    dec = ort.InferenceSession(dec_bytes, opts, providers=["CPUExecutionProvider"])
    roll = ort.InferenceSession(os.path.join(committed, "decoder_rollout.onnx"), opts, providers=["CPUExecutionProvider"])
    feats = np.random.default_rng(5).standard_normal((40, 64)).astype(np.float32)
    h = np.zeros((2, 1, 512), np.float32)
    c = h.copy()
    prev = np.zeros((1, 20), np.float32)
    stepped = []
    for t in range(feats.shape[0]):
        pv, h, c = dec.run(None, {"input": np.concatenate([feats[t : t + 1], prev], 1), "h0": h, "c0": c})
        prev = pv[:, :20] if t < 12 else (prev + pv[:, 20:]).astype(np.float32)
        stepped.append(prev[0])
    looped = roll.run(None, {"features": feats})[0]
    assert looped.shape == (40, 20)
    assert np.abs(looped - np.stack(stepped)).max() <= 1e-6
    x = np.random.default_rng(6).standard_normal((2, 84)).astype(np.float32)
    hb = (0.3 * np.random.default_rng(7).standard_normal((2, 2, 512))).astype(np.float32)
    pv2, h2, c2 = dec.run(None, {"input": x, "h0": hb, "c0": 2 * hb})
    for b in range(2):
        pv1, h1, c1 = dec.run(None, {"input": x[b : b + 1], "h0": hb[:, b : b + 1].copy(), "c0": 2 * hb[:, b : b + 1]})
        assert np.abs(pv2[b] - pv1[0]).max() <= 1e-7
        assert np.abs(h2[:, b] - h1[:, 0]).max() <= 1e-7 and np.abs(c2[:, b] - c1[:, 0]).max() <= 1e-7


def test_stream_step_graph_is_the_two_graphs_in_one_run():
    """stream_step.onnx, rebuilt from the committed step graphs, is the committed file and runs as they do."""
    ort = pytest.importorskip("onnxruntime")
    import incremental as INC
    from export import RECEPTIVE_FIELD, _stream_step_crosscheck, export_stream_step, make_golden_emg

    committed = os.path.join(REPO_ROOT, "models")
    inc_bytes = open(os.path.join(committed, "encoder_incremental.onnx"), "rb").read()
    dec_bytes = open(os.path.join(committed, "decoder_step.onnx"), "rb").read()
    info = json.load(open(os.path.join(committed, "model_info.json")))
    meta = {"myostream.weights": json.dumps(info["weights"], sort_keys=True, separators=(",", ":")),
            "myostream.geometry": "left_context=1790,stride=80", "myostream.role": "stream_step"}
    built = export_stream_step(inc_bytes, dec_bytes, meta)
    assert built == open(os.path.join(committed, "stream_step.onnx"), "rb").read()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    inc = ort.InferenceSession(inc_bytes, opts, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(dec_bytes, opts, providers=["CPUExecutionProvider"])
    pad = INC.WARMUP_STEPS * INC.CHUNK + INC.CHUNK
    emg = make_golden_emg()[: 80 * INC.CHUNK + RECEPTIVE_FIELD]
    sig = np.concatenate([np.zeros((pad, emg.shape[1]), np.float32), emg], axis=0)
    assert _stream_step_crosscheck(ort, opts, built, inc, dec, sig, pad) == 0.0
