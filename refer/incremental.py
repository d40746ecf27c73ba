"""Cached-state (incremental) evaluation of the encoder: one step per 40 new samples.

The full-window encoder recomputes every layer over 1830 samples for each 50 Hz step. All of
its layers up to the end of stage 1 have a total stride of 40 samples, so every new 40-sample
chunk adds exactly one new frame to each of them; the rest of each layer's input is the tail
of what earlier steps already computed. Stage 2 runs at stride 80 in the full encoder. Evaluated
at stride 40 instead ("a trous"), its Conv1dBlock (kernel 9, stride 2) becomes a kernel-9
convolution over the last 9 stage-1 frames, and its TDS convolutions (kernel 5 over stride-80
frames) become kernel-5 convolutions with dilation 2 over the stride-40 stream. The feature
of step q is then the encoder output for the receptive field [40q, 40q + 1791): for even q the
full encoder's native frame q/2, for odd q the native frame of the input shifted by 40 samples,
i.e. exactly the single point of the 1830-sample sliding window of step q.

Geometry of step q (session origin 0): the new chunk is samples [40q + 1751, 40q + 1791); the
step completes layer-0 outputs 8q+349 … 8q+356, layer-1 outputs 4q+173 … 4q+176, one stage-1
Conv1dBlock output (index q + 40 of the full encoder's), and one frame of every later layer.

State (the inputs each layer still needs from earlier steps), in step order; shapes are
[1, channels, frames] in the module form and [1, frames, channels] in the export form:

| # | name       | frames × ch | holds                                                         |
|---|------------|-------------|---------------------------------------------------------------|
| 0 | state_emg  | 6 × 16      | last 6 raw samples (layer 0, kernel 11, stride 5)              |
| 1 | state_l0   | 3 × 256     | last 3 layer-0 outputs (layer 1, kernel 5, stride 2)           |
| 2 | state_l1   | 13 × 256    | last 13 layer-1 outputs (stage-1 conv, kernel 17, stride 4)    |
| 3 | state_s1a  | 8 × 256     | last 8 stage-1 conv outputs (TDS conv, kernel 9)               |
| 4 | state_s1b  | 8 × 256     | last 8 outputs of TDS pair 1 (TDS conv, kernel 9)              |
| 5 | state_s1   | 8 × 256     | last 8 stage-1 outputs (stage-2 conv, kernel 9, at stride 1)   |
| 6 | state_s2a  | 8 × 256     | last 8 stage-2 conv outputs (TDS conv, kernel 5, dilation 2)   |
| 7 | state_s2b  | 8 × 256     | last 8 outputs of TDS pair 1 of stage 2 (kernel 5, dilation 2) |

Two forms of the same step, on the same parameters:
- ``IncrementalEncoderStep`` (module form): channels-first like the encoder; every layer is the
  full model's own block applied to exactly one kernel span. The readable statement, used by
  the per-layer checks.
- ``IncrementalEncoderStepExport`` (export form): time-major ``[1, frames, channels]`` tensors
  (the ring buffer's layout: the runtime copies samples in without transposing), every
  convolution written as one matrix product of the flattened kernel span with the layer's
  weight (reshaped, not changed). At one frame per step a convolution is a matrix-vector
  product; the export form gives ONNX Runtime one GEMM per layer instead of a convolution
  kernel with layout reorders around it, about 40 % less time per step on a 2-core CPU.

Warm-up: frame 0 of a session depends only on samples [origin, origin + 1791), so a session
starts from all-zero state at step -WARMUP_STEPS (-44) with samples before the origin read as
zeros; every value those zeros touch lies outside frame 0's dependency cone (checked in
refer/tests/test_incremental.py, also with garbage instead of zeros). Steps -44 … -1 only fill
the state; step 0 gives frame 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model import FEATURE_DIM, NUM_CHANNELS, RECEPTIVE_FIELD, Encoder

CHUNK = 40  # new samples per step (= total stride up to the end of stage 1)
# (name, channels, frames) of every state tensor, in step order
STATE_SPECS: list[tuple[str, int, int]] = [
    ("state_emg", NUM_CHANNELS, 6),
    ("state_l0", 256, 3),
    ("state_l1", 256, 13),
    ("state_s1a", 256, 8),
    ("state_s1b", 256, 8),
    ("state_s1", 256, 8),
    ("state_s2a", 256, 8),
    ("state_s2b", 256, 8),
]
STATE_NAMES = [s[0] for s in STATE_SPECS]
NEXT_STATE_NAMES = ["next_" + n for n in STATE_NAMES]
# Steps before frame 0 that only build state: the earliest step whose new values lie in frame
# 0's dependency cone is -44 (it completes layer-0 output 0 and layer-1 output 0).
WARMUP_STEPS = 44
# Samples of the newest chunk that the step reads: a step q chunk ends at 40q + 1791.
CHUNK_END_OFFSET = RECEPTIVE_FIELD


def zero_state(batch: int = 1, time_major: bool = False) -> list[torch.Tensor]:
    """All-zero state tensors ([B, C, T], or [B, T, C] for the export form)."""
    return [torch.zeros(batch, t, c) if time_major else torch.zeros(batch, c, t) for _, c, t in STATE_SPECS]


class IncrementalEncoderStep(nn.Module):
    """One cached step of the encoder; shares (does not copy) the parameters of ``encoder``.

    forward(emg [B, 16, 40], *state) -> (feature [B, 64], *next_state, per-layer outputs if
    ``return_layers``). No control flow depends on values: every convolution sees exactly its
    kernel's span and produces a fixed number of frames.
    """

    def __init__(self, encoder: Encoder, return_layers: bool = False):
        super().__init__()
        layers = encoder.layers
        self.l0 = layers[0]
        self.l1 = layers[1]
        s1, s2 = layers[2], layers[3]
        self.s1_conv = s1.layers.conv1dblock
        t1 = s1.layers.tds_block.tds_conv_blocks
        self.s1_tds_a, self.s1_fc_a, self.s1_tds_b, self.s1_fc_b = t1[0], t1[1], t1[2], t1[3]
        self.s2_conv = s2.layers.conv1dblock
        t2 = s2.layers.tds_block.tds_conv_blocks
        self.s2_tds_a, self.s2_fc_a, self.s2_tds_b, self.s2_fc_b = t2[0], t2[1], t2[2], t2[3]
        self.linear = s2.linear_layer
        self.return_layers = return_layers

    @staticmethod
    def _push(state: torch.Tensor, new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([state, new], dim=2)
        return x, x[:, :, x.shape[2] - state.shape[2] :]

    def forward(self, emg: torch.Tensor, *state: torch.Tensor):  # noqa: D102
        s_emg, s_l0, s_l1, s_s1a, s_s1b, s_s1, s_s2a, s_s2b = state
        x, n_emg = self._push(s_emg, emg)  # [B,16,46]
        y0 = self.l0(x)  # [B,256,8]
        x, n_l0 = self._push(s_l0, y0)  # [B,256,11]
        y1 = self.l1(x)  # [B,256,4]
        x, n_l1 = self._push(s_l1, y1)  # [B,256,17]
        y2 = self.s1_conv(x)  # [B,256,1]
        x, n_s1a = self._push(s_s1a, y2)  # [B,256,9]
        y3 = self.s1_fc_a(self.s1_tds_a(x))  # [B,256,1]
        x, n_s1b = self._push(s_s1b, y3)
        y4 = self.s1_fc_b(self.s1_tds_b(x))  # stage-1 output frame
        # stage-2 Conv1dBlock: kernel 9 over the last 9 stage-1 frames; with exactly 9 inputs
        # its stride 2 has no effect, so evaluating it every step is the stride-1 evaluation.
        x, n_s1 = self._push(s_s1, y4)
        y5 = self.s2_conv(x)
        # stage-2 TDS convs: kernel 5 over stride-80 frames = kernel 5, dilation 2 here.
        x, n_s2a = self._push(s_s2a, y5)
        y6 = self.s2_fc_a(self.s2_tds_a(x[:, :, 0::2]))
        x, n_s2b = self._push(s_s2b, y6)
        y7 = self.s2_fc_b(self.s2_tds_b(x[:, :, 0::2]))
        feature = self.linear(y7[:, :, 0])  # [B,64]
        out = (feature, n_emg, n_l0, n_l1, n_s1a, n_s1b, n_s1, n_s2a, n_s2b)
        if self.return_layers:
            return out + ((y0, y1, y2, y3, y4, y5, y6, y7),)
        return out


def _conv_matrix(weight: torch.Tensor) -> torch.Tensor:
    """Conv weight [out, in, k] -> [k*in, out]: the matrix of a time-major flattened span."""
    return weight.permute(2, 1, 0).reshape(-1, weight.shape[0])


class _EncoderParts(nn.Module):
    """The encoder's layers under the names the export graphs use (parameters shared, not copied)."""

    def __init__(self, encoder: Encoder):
        super().__init__()
        layers = encoder.layers
        s1, s2 = layers[2], layers[3]
        self.l0, self.l1 = layers[0], layers[1]
        self.s1_conv, self.s2_conv = s1.layers.conv1dblock, s2.layers.conv1dblock
        self.t1 = s1.layers.tds_block.tds_conv_blocks
        self.t2 = s2.layers.tds_block.tds_conv_blocks
        self.linear = s2.linear_layer


class IncrementalEncoderStepExport(_EncoderParts):
    """Export form of one step (time-major). forward(emg [1, 40, 16], *state [1, T, C]) ->
    (feature [1, 64], *next_state [1, T, C]). Batch 1 only; parameters shared with ``encoder``."""

    def __init__(self, encoder: Encoder):
        super().__init__(encoder)
        # time indices of the kernel spans of the 8 layer-0 and 4 layer-1 outputs of a step
        self.register_buffer("span0", torch.arange(8)[:, None] * 5 + torch.arange(11)[None, :], persistent=False)
        self.register_buffer("span1", torch.arange(4)[:, None] * 2 + torch.arange(5)[None, :], persistent=False)

    @staticmethod
    def _conv_block(block, spans: torch.Tensor) -> torch.Tensor:
        """Conv1dBlock on flattened spans [n, k*in] -> [n, out]: conv, ReLU, LayerNorm."""
        conv = block.conv[0]
        y = F.relu(spans @ _conv_matrix(conv.weight) + conv.bias)
        norm = block.norm
        return F.layer_norm(y, norm.normalized_shape, norm.weight, norm.bias, norm.eps)

    @staticmethod
    def _tds_conv(block, x: torch.Tensor) -> torch.Tensor:
        """TDSConv2dBlock on one kernel span x [k, 256] (time-major) -> [1, 256]."""
        k, ch, width = x.shape[0], block.channels, block.width
        w = block.conv2d.weight[:, :, 0, :]  # [ch_out, ch_in, k]
        z = x.reshape(k, ch, width).permute(2, 0, 1).reshape(width, k * ch)  # [width, (k, ch_in)]
        y = F.relu(z @ _conv_matrix(w) + block.conv2d.bias)  # [width, ch_out]
        y = y.t().reshape(1, ch * width) + x[k - 1 : k]  # residual: the newest input frame
        norm = block.layer_norm
        return F.layer_norm(y, norm.normalized_shape, norm.weight, norm.bias, norm.eps)

    @staticmethod
    def _fc(block, x: torch.Tensor) -> torch.Tensor:
        return block.layer_norm(block.fc_block(x) + x)

    def forward(self, emg, s_emg, s_l0, s_l1, s_s1a, s_s1b, s_s1, s_s2a, s_s2b):  # noqa: D102
        def push(state: torch.Tensor, new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.cat([state[0], new], dim=0)
            return x, x[x.shape[0] - state.shape[1] :].unsqueeze(0)

        x, n_emg = push(s_emg, emg[0])  # [46, 16]
        y0 = self._conv_block(self.l0, x[self.span0].reshape(8, -1))  # [8, 256]
        x, n_l0 = push(s_l0, y0)  # [11, 256]
        y1 = self._conv_block(self.l1, x[self.span1].reshape(4, -1))  # [4, 256]
        x, n_l1 = push(s_l1, y1)  # [17, 256]
        y2 = self._conv_block(self.s1_conv, x.reshape(1, -1))  # [1, 256]
        x, n_s1a = push(s_s1a, y2)
        y3 = self._fc(self.t1[1], self._tds_conv(self.t1[0], x))
        x, n_s1b = push(s_s1b, y3)
        y4 = self._fc(self.t1[3], self._tds_conv(self.t1[2], x))
        x, n_s1 = push(s_s1, y4)
        y5 = self._conv_block(self.s2_conv, x.reshape(1, -1))  # stride-1 evaluation
        x, n_s2a = push(s_s2a, y5)
        y6 = self._fc(self.t2[1], self._tds_conv(self.t2[0], x[0::2]))  # dilation 2
        x, n_s2b = push(s_s2b, y6)
        y7 = self._fc(self.t2[3], self._tds_conv(self.t2[2], x[0::2]))
        return (self.linear(y7), n_emg, n_l0, n_l1, n_s1a, n_s1b, n_s1, n_s2a, n_s2b)


class IncrementalEncoderInitExport(_EncoderParts):
    """Warm-up in one run: emg [1, 1791, 16] (time-major, samples [origin, origin + 1791) of a
    session) -> (frame 0 [1, 64], state after step 0 [1, T, C] …), the same values that steps
    -44 … 0 from zero state give. Every state entry after step 0 lies in the receptive field of
    a later frame, hence inside [origin, ∞), so the whole window evaluated "a trous" (stage-1
    layers at their own stride, the stage-2 conv at stride 1, its TDS convs with dilation 2)
    yields it. Costs about one full-window encoder run instead of 45 steps."""

    def __init__(self, encoder: Encoder):
        super().__init__(encoder)

    @staticmethod
    def _dilated_tds(block, x: torch.Tensor) -> torch.Tensor:
        """TDSConv2dBlock with its kernel dilated by 2 (stride-80 taps on a stride-40 stream)."""
        b, t = x.shape[0], x.shape[2]
        k = block.kernel_width
        y = F.conv2d(x.reshape(b, block.channels, block.width, t), block.conv2d.weight, block.conv2d.bias, dilation=(1, 2))
        y = F.relu(y).reshape(b, block.channels * block.width, -1)
        return block.layer_norm(y + x[:, :, 2 * (k - 1) :])

    def forward(self, emg: torch.Tensor):  # noqa: D102
        tail = lambda x, n: x[:, :, x.shape[2] - n :].transpose(1, 2)  # noqa: E731  [1, n, C]
        x = emg.transpose(1, 2)  # [1, 16, 1791]
        y0 = self.l0(x)  # 357 frames
        y1 = self.l1(y0)  # 177
        y2 = self.s1_conv(y1)  # 41 (stride 40 from here)
        y3 = self.t1[1](self.t1[0](y2))  # 33
        y4 = self.t1[3](self.t1[2](y3))  # 25
        conv = self.s2_conv.conv[0]
        y5 = self.s2_conv.norm(F.relu(F.conv1d(y4, conv.weight, conv.bias)))  # stride 1: 17
        y6 = self.t2[1](self._dilated_tds(self.t2[0], y5))  # 9
        y7 = self.t2[3](self._dilated_tds(self.t2[2], y6))  # 1
        feature = self.linear(y7[:, :, 0])
        states = [tail(v, t) for v, (_, _, t) in zip((x, y0, y1, y2, y3, y4, y5, y6), STATE_SPECS)]
        return (feature, *states)


def run_incremental(
    encoder: Encoder,
    emg: torch.Tensor,
    origin: int = 0,
    num_steps: int | None = None,
    warmup_steps: int = WARMUP_STEPS,
    pre_origin: torch.Tensor | None = None,
    return_layers: bool = False,
    export_form: bool = False,
    init_graph: bool = False,
):
    """Incremental features of one session over emg [16, T] (channels first).

    Step q (q = -warmup_steps, …) reads chunk [origin + 40q + 1751, origin + 40q + 1791);
    samples before ``origin`` are zeros, or taken from ``pre_origin`` [16, origin] when given
    (only to show that they do not matter). Returns features [N, 64] of steps 0 … N-1, and
    with ``return_layers`` (module form only) also the per-layer new frames of steps ≥ 0.
    ``init_graph`` (export form): frame 0 and the state come from IncrementalEncoderInitExport.
    """
    assert not (return_layers and export_form) and (export_form or not init_graph)
    total = emg.shape[1]
    max_steps = max(0, (total - origin - RECEPTIVE_FIELD) // CHUNK + 1)
    n = max_steps if num_steps is None else min(num_steps, max_steps)
    if export_form:
        step = IncrementalEncoderStepExport(encoder).eval()
    else:
        step = IncrementalEncoderStep(encoder, return_layers=return_layers).eval()
    padded_len = warmup_steps * CHUNK + CHUNK  # enough zeros before the origin
    pad = torch.zeros(emg.shape[0], padded_len)
    if pre_origin is not None:
        k = min(padded_len, pre_origin.shape[1])
        pad[:, padded_len - k :] = pre_origin[:, pre_origin.shape[1] - k :]
    signal = torch.cat([pad, emg[:, origin:]], dim=1)  # sample s of the session at index padded_len + s
    state = zero_state(time_major=export_form)
    feats = torch.empty(n, FEATURE_DIM)
    layers: list[list[torch.Tensor]] = [[] for _ in range(8)]
    first = -warmup_steps
    with torch.no_grad():
        if init_graph and n > 0:
            window = signal[:, padded_len : padded_len + RECEPTIVE_FIELD].t().unsqueeze(0)
            out = IncrementalEncoderInitExport(encoder).eval()(window)
            feats[0] = out[0][0]
            state, first = list(out[1:9]), 1
        for q in range(first, n):
            end = padded_len + CHUNK * q + CHUNK_END_OFFSET
            chunk = signal[:, end - CHUNK : end].unsqueeze(0)
            out = step(chunk.transpose(1, 2) if export_form else chunk, *state)
            state = list(out[1:9])
            if q >= 0:
                feats[q] = out[0][0]
                if return_layers:
                    for k, y in enumerate(out[9]):
                        layers[k].append(y[0])
    if return_layers:
        return feats, [torch.stack(v) for v in layers]
    return feats


def full_encoder_layers(encoder: Encoder, emg: torch.Tensor) -> list[torch.Tensor]:
    """Per-layer outputs of the full encoder on emg [16, T], in the order of the step's
    per-layer outputs (layer 0, layer 1, stage-1 conv, TDS pair 1 and 2 of stage 1, stage-2
    conv, TDS pair 1 and 2 of stage 2); each [C, frames]."""
    layers = encoder.layers
    s1, s2 = layers[2], layers[3]
    t1 = s1.layers.tds_block.tds_conv_blocks
    t2 = s2.layers.tds_block.tds_conv_blocks
    outs = []
    with torch.no_grad():
        x = layers[0](emg.unsqueeze(0))
        outs.append(x)
        x = layers[1](x)
        outs.append(x)
        x = s1.layers.conv1dblock(x)
        outs.append(x)
        x = t1[1](t1[0](x))
        outs.append(x)
        x = t1[3](t1[2](x))
        outs.append(x)
        x = s2.layers.conv1dblock(x)
        outs.append(x)
        x = t2[1](t2[0](x))
        outs.append(x)
        x = t2[3](t2[2](x))
        outs.append(x)
    return [o[0] for o in outs]
