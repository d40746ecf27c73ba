"""The int8 variant: operators, determinism, and agreement with the committed files."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest

from conftest import REPO_ROOT

COMMITTED = os.path.join(REPO_ROOT, "models")


def test_int8_graphs_rebuild_to_the_committed_bytes_and_use_the_int8_kernels(tmp_path):
    pytest.importorskip("onnxruntime.quantization")
    from quantize import VARIANTS, add_int8_variant

    info = json.load(open(os.path.join(COMMITTED, "model_info.json")))
    if "decoder_step_int8" not in info["models"]:
        pytest.skip("committed models/ has no int8 variant")
    for name in ["model_info.json", "golden/input.mtb", "golden/reference.mtb", *(info["models"][k]["path"] for k in VARIANTS)]:
        os.makedirs(os.path.dirname(tmp_path / name), exist_ok=True)
        shutil.copyfile(os.path.join(COMMITTED, name), tmp_path / name)
    add_int8_variant(str(tmp_path), log=lambda *a: None)
    rebuilt = json.load(open(tmp_path / "model_info.json"))
    assert rebuilt == info
    for key in VARIANTS.values():
        path = info["models"][key]["path"]
        assert (tmp_path / path).read_bytes() == open(os.path.join(COMMITTED, path), "rb").read(), path
        ops = {n.op_type for n in onnx.load(str(tmp_path / path)).graph.node}
        assert "MatMul" not in ops and "LSTM" not in ops and "MatMulInteger" in ops, (key, ops)
        assert ("DynamicQuantizeLSTM" in ops) == (key != "encoder_incremental_int8")
        # the fp32 graph's interface, unchanged
        src = info["models"][info["models"][key]["quantization"]["from"]]
        assert info["models"][key]["inputs"] == src["inputs"] and info["models"][key]["outputs"] == src["outputs"]
        assert info["models"][key]["bytes"] < 0.3 * src["bytes"]
    assert (tmp_path / "golden/reference_int8.mtb").read_bytes() == open(os.path.join(COMMITTED, "golden/reference_int8.mtb"), "rb").read()
    from tensor_bundle import read_bundle

    arrays, meta = read_bundle(tmp_path / "golden/reference_int8.mtb")
    ref, _ = read_bundle(tmp_path / "golden/reference.mtb")
    # int8 moves the session by a fraction of a degree over the golden 20 s, not by nothing
    d = np.degrees(np.abs(arrays["streaming_sliding_window_poses_int8"] - ref["streaming_sliding_window_poses"]))
    assert 1e-4 < d.max() < 0.5 and meta["precision"] == "int8"
