"""Incremental (cached-state) encoder: per-layer and final equivalence with the full encoder."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import incremental as I
import rollout as R
from conftest import REPO_ROOT
from model import RECEPTIVE_FIELD, build_model

# Index of the full encoder's frame that step q's new frame(s) of each layer equal, for even q
# (odd q: the full encoder on the input shifted by 40 samples, at q - 1). Layers 0 and 1 give
# 8 and 4 frames per step, ending at the returned index.
def _full_index(layer: int, q: int) -> int:
    return [8 * q + 356, 4 * q + 176, q + 40, q + 32, q + 24, (q + 16) // 2, (q + 8) // 2, q // 2][layer]


def test_state_geometry():
    # every layer's state + new frames is exactly one kernel span; receptive field 1791
    assert [s[2] for s in I.STATE_SPECS] == [6, 3, 13, 8, 8, 8, 8, 8]
    step = I.IncrementalEncoderStep(build_model().network, return_layers=True).eval()
    with torch.no_grad():
        out = step(torch.randn(1, 16, 40), *I.zero_state())
    assert out[0].shape == (1, 64)
    assert [tuple(t.shape) for t in out[1:9]] == [(1, c, t) for _, c, t in I.STATE_SPECS]
    assert [y.shape[2] for y in out[9]] == [8, 4, 1, 1, 1, 1, 1, 1]


def test_export_form_equals_module_form(model):
    g = torch.Generator().manual_seed(9)
    mod = I.IncrementalEncoderStep(model.network).eval()
    exp = I.IncrementalEncoderStepExport(model.network).eval()
    worst = 0.0
    for _ in range(5):
        state = [torch.randn(1, c, t, generator=g) for _, c, t in I.STATE_SPECS]
        emg = torch.randn(1, 16, 40, generator=g)
        with torch.no_grad():
            a = mod(emg, *state)
            b = exp(emg.transpose(1, 2), *[s.transpose(1, 2) for s in state])
        assert [tuple(t.shape) for t in b[1:]] == [(1, t, c) for _, c, t in I.STATE_SPECS]
        worst = max(worst, float((a[0] - b[0]).abs().max()))
        for x, y in zip(a[1:], b[1:]):
            worst = max(worst, float((x.transpose(1, 2) - y).abs().max()))
    assert worst <= 2e-5, worst  # state values are LayerNorm outputs (up to ~7)
    # and over a session: the export form gives the same features
    emg = torch.randn(16, 1791 + 40 * 60, generator=g)
    fa = I.run_incremental(model.network, emg)
    fb = I.run_incremental(model.network, emg, export_form=True)
    assert float((fa - fb).abs().max()) <= 1e-5


def test_init_graph_equals_warmup_steps(model):
    g = torch.Generator().manual_seed(13)
    emg = torch.randn(16, 1791 + 40 * 40, generator=g)
    steps = I.run_incremental(model.network, emg, export_form=True)
    init = I.run_incremental(model.network, emg, export_form=True, init_graph=True)
    assert float((steps - init).abs().max()) <= 1e-5
    # its state equals the stepped state after step 0
    exp = I.IncrementalEncoderStepExport(model.network).eval()
    pad = I.WARMUP_STEPS * 40 + 40
    sig = torch.cat([torch.zeros(16, pad), emg], dim=1)
    state = I.zero_state(time_major=True)
    with torch.no_grad():
        for q in range(-I.WARMUP_STEPS, 1):
            end = pad + 40 * q + RECEPTIVE_FIELD
            out = exp(sig[:, end - 40 : end].t().unsqueeze(0), *state)
            state = list(out[1:])
        got = I.IncrementalEncoderInitExport(model.network).eval()(emg[:, :RECEPTIVE_FIELD].t().unsqueeze(0))
    assert float((got[0] - out[0]).abs().max()) <= 1e-5
    for a, b in zip(got[1:], state):
        assert a.shape == b.shape and float((a - b).abs().max()) <= 2e-5


def test_per_layer_equivalence(model, emg_2blocks):
    emg = emg_2blocks[:, :6000]
    n = (emg.shape[1] - 40 - RECEPTIVE_FIELD) // 40 + 1  # steps whose odd partner fits too
    feats, layers = I.run_incremental(model.network, emg, num_steps=n, return_layers=True)
    full_even = I.full_encoder_layers(model.network, emg)
    full_odd = I.full_encoder_layers(model.network, emg[:, 40:])
    worst = []  # max |diff| relative to the layer's max |value| (LayerNorm outputs reach ~7)
    for k in range(8):
        d = 0.0
        scale = max(float(full_even[k].abs().max()), float(full_odd[k].abs().max()))
        for q in range(n):
            full, qq = (full_even, q) if q % 2 == 0 else (full_odd, q - 1)
            end = _full_index(k, qq)
            width = layers[k].shape[2]
            ref = full[k][:, end - width + 1 : end + 1]
            d = max(d, float((layers[k][q] - ref).abs().max()))
        worst.append(d / scale)
    assert max(worst) <= 5e-6, worst


def test_final_equivalence_sliding_and_native(model, emg_2blocks):
    emg = emg_2blocks[:, :8000]
    feats = I.run_incremental(model.network, emg)
    sw = R.sliding_window_features(model, emg)
    assert feats.shape[0] == (emg.shape[1] - RECEPTIVE_FIELD) // 40 + 1
    # the last incremental frame needs 1791 samples, the sliding window 1830
    assert sw.shape[0] in (feats.shape[0], feats.shape[0] - 1)
    assert float((feats[: sw.shape[0]] - sw).abs().max()) <= 1e-5
    native = R.encode(model, emg)
    assert float((feats[0::2][: native.shape[0]] - native).abs().max()) <= 1e-5


def test_warmup_is_exact_and_minimal(model):
    g = torch.Generator().manual_seed(3)
    emg = torch.randn(16, 5000, generator=g)
    origin = 1234
    ref = R.encode(model, emg[:, origin:])[:4]
    # zero padding before the origin, and garbage instead of zeros: identical frames
    a = I.run_incremental(model.network, emg, origin=origin, num_steps=8)
    b = I.run_incremental(model.network, emg, origin=origin, num_steps=8, pre_origin=emg[:, :origin] * 50 + 3)
    assert float((a[0::2] - ref).abs().max()) <= 1e-5
    assert float((a - b).abs().max()) == 0.0
    # more warm-up changes nothing; one step less breaks frame 0
    c = I.run_incremental(model.network, emg, origin=origin, num_steps=8, warmup_steps=I.WARMUP_STEPS + 5)
    assert float((a - c).abs().max()) == 0.0
    d = I.run_incremental(model.network, emg, origin=origin, num_steps=1, warmup_steps=I.WARMUP_STEPS - 1)
    # (the earliest samples weigh little on frame 0 with these weights, but not nothing)
    assert float((d[0] - ref[0]).abs().max()) > 1e-5 > float((a[0] - ref[0]).abs().max())


def test_no_drift_over_long_run(model):
    """The state is a finite window of recent values: errors cannot accumulate."""
    g = torch.Generator().manual_seed(5)
    emg = torch.randn(16, RECEPTIVE_FIELD + 40 * 2999, generator=g)
    feats = I.run_incremental(model.network, emg)
    assert feats.shape[0] == 3000
    native = R.encode(model, emg)
    d = (feats[0::2][: native.shape[0]] - native).abs().max(dim=1).values
    assert float(d[:100].max()) <= 1e-5 and float(d[-100:].max()) <= 1e-5


GOLDEN = os.path.join(REPO_ROOT, "models", "golden", "reference.mtb")
ONNX = os.path.join(REPO_ROOT, "models", "encoder_incremental.onnx")


@pytest.mark.skipif(not (os.path.exists(GOLDEN) and os.path.exists(ONNX)), reason="models not exported")
def test_committed_onnx_step_matches_golden():
    ort = pytest.importorskip("onnxruntime")
    from export import make_golden_emg
    from tensor_bundle import read_bundle

    arrays, meta = read_bundle(GOLDEN)
    if "seed" not in meta["weights"]:
        pytest.skip("golden exported from a checkpoint")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(ONNX, opts, providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["emg"] + I.STATE_NAMES
    assert [o.name for o in sess.get_outputs()] == ["feature"] + I.NEXT_STATE_NAMES
    emg = make_golden_emg()  # [T, 16], time-major like the graph
    pad = I.WARMUP_STEPS * I.CHUNK + I.CHUNK
    sig = np.concatenate([np.zeros((pad, 16), np.float32), emg], axis=0)
    state = [np.zeros((1, t, c), np.float32) for _, c, t in I.STATE_SPECS]
    sw = arrays["sliding_features"]
    feats = []
    for q in range(-I.WARMUP_STEPS, sw.shape[0]):
        end = pad + 40 * q + RECEPTIVE_FIELD
        out = sess.run(None, {"emg": sig[None, end - 40 : end], **dict(zip(I.STATE_NAMES, state))})
        state = out[1:]
        if q >= 0:
            feats.append(out[0][0])
    feats = np.stack(feats)
    assert np.abs(feats - sw).max() <= 1e-5
    assert np.abs(feats[0::2] - arrays["native_frames"]).max() <= 1e-5
