"""Our PyTorch statement of the public reference pose model (see refer/README.md).

Structure and behaviour follow /work/shared/SPEC.md section 2. Parameter names follow the
upstream checkpoint key layout with the ``model.`` prefix stripped, so that an upstream
Lightning checkpoint loads with ``load_state_dict(strict=True)``.

Encoder: EMG [B, 16, T] -> features [B, 64, F], F = floor((T - 1791) / 80) + 1.
Decoder: one LSTM step on [features(64), previous pose(20)] -> (position 20, velocity 20).
"""

from __future__ import annotations

import torch
from torch import nn

DEFAULT_SEED = 20260101

SAMPLE_RATE = 2000
NUM_CHANNELS = 16
FEATURE_DIM = 64
POSE_DIM = 20
LSTM_HIDDEN = 512
LSTM_LAYERS = 2
OUTPUT_SCALE = 0.01
ROLLOUT_FREQ = 50
RECEPTIVE_FIELD = 1791
LEFT_CONTEXT = RECEPTIVE_FIELD - 1  # 1790
RIGHT_CONTEXT = 0
STRIDE = 80

JOINT_NAMES = [
    "THUMB_CMC_FE",
    "THUMB_CMC_AA",
    "THUMB_MCP_FE",
    "THUMB_IP_FE",
]
for _finger in ("INDEX", "MIDDLE", "RING", "PINKY"):
    JOINT_NAMES += [f"{_finger}_MCP_AA", f"{_finger}_MCP_FE", f"{_finger}_PIP_FE", f"{_finger}_DIP_FE"]
del _finger

# (kind, parameters) of every encoder operation, in order; used for geometry checks.
# Each entry of the convolution chain is (kernel, stride).
CONV_CHAIN = [
    (11, 5),  # layers.0
    (5, 2),  # layers.1
    (17, 4),  # stage 1 Conv1dBlock
    (9, 1),  # stage 1 TDS conv block 0
    (9, 1),  # stage 1 TDS conv block 1
    (9, 2),  # stage 2 Conv1dBlock
    (5, 1),  # stage 2 TDS conv block 0
    (5, 1),  # stage 2 TDS conv block 1
]


def num_frames(num_samples: int) -> int:
    """Frames produced by the encoder for ``num_samples`` input samples (0 if too short)."""
    if num_samples < RECEPTIVE_FIELD:
        return 0
    return (num_samples - RECEPTIVE_FIELD) // STRIDE + 1


def chain_geometry() -> tuple[int, int]:
    """(receptive_field, total_stride) derived from CONV_CHAIN."""
    rf, jump = 1, 1
    for kernel, stride in CONV_CHAIN:
        rf += (kernel - 1) * jump
        jump *= stride
    return rf, jump


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of a [B, C, T] tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class Conv1dBlock(nn.Module):
    """Unpadded Conv1d -> ReLU -> LayerNorm over channels."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride),
            nn.ReLU(),
        )
        self.norm = ChannelLayerNorm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.norm(self.conv(x))


class TDSConv2dBlock(nn.Module):
    """Time-depth-separable convolution over [B, channels*width, T] with a residual."""

    def __init__(self, channels: int, width: int, kernel_width: int):
        super().__init__()
        self.channels = channels
        self.width = width
        self.kernel_width = kernel_width
        self.conv2d = nn.Conv2d(channels, channels, kernel_size=(1, kernel_width))
        self.relu = nn.ReLU()
        self.layer_norm = ChannelLayerNorm(channels * width)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # noqa: D102
        batch = inputs.shape[0]
        x = inputs.reshape(batch, self.channels, self.width, -1)
        x = self.relu(self.conv2d(x))
        x = x.reshape(batch, self.channels * self.width, -1)
        # residual: the input's last T_out frames (T_out = T_in - kernel + 1)
        x = x + inputs[:, :, self.kernel_width - 1 :]
        return self.layer_norm(x)


class TDSFullyConnectedBlock(nn.Module):
    """Per-frame Linear -> ReLU -> Linear with a residual, then LayerNorm."""

    def __init__(self, num_features: int):
        super().__init__()
        self.fc_block = nn.Sequential(
            nn.Linear(num_features, num_features),
            nn.ReLU(),
            nn.Linear(num_features, num_features),
        )
        self.layer_norm = nn.LayerNorm(num_features)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = inputs.transpose(1, 2)  # [B, T, C]
        x = self.layer_norm(self.fc_block(x) + x)
        return x.transpose(1, 2)


class TDSBlocks(nn.Module):
    """Alternating TDS conv and TDS fully connected blocks."""

    def __init__(self, channels: int, width: int, kernel_width: int, num_pairs: int):
        super().__init__()
        blocks: list[nn.Module] = []
        for _ in range(num_pairs):
            blocks.append(TDSConv2dBlock(channels, width, kernel_width))
            blocks.append(TDSFullyConnectedBlock(channels * width))
        self.tds_conv_blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.tds_conv_blocks(x)


class TDSStage(nn.Module):
    """Conv1dBlock followed by TDS blocks, optionally a per-frame output Linear."""

    def __init__(
        self,
        in_channels: int,
        conv_kernel: int,
        conv_stride: int,
        tds_kernel: int,
        num_pairs: int = 2,
        channels: int = 16,
        width: int = 16,
        out_features: int | None = None,
    ):
        super().__init__()
        num_features = channels * width
        self.layers = nn.Sequential()
        self.layers.add_module("conv1dblock", Conv1dBlock(in_channels, num_features, conv_kernel, conv_stride))
        self.layers.add_module("tds_block", TDSBlocks(channels, width, tds_kernel, num_pairs))
        self.linear_layer = nn.Linear(num_features, out_features) if out_features is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = self.layers(x)
        if self.linear_layer is not None:
            x = self.linear_layer(x.transpose(1, 2)).transpose(1, 2)
        return x


class Encoder(nn.Module):
    """EMG [B, 16, T] -> features [B, 64, F]."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            Conv1dBlock(NUM_CHANNELS, 256, 11, 5),
            Conv1dBlock(256, 256, 5, 2),
            TDSStage(256, conv_kernel=17, conv_stride=4, tds_kernel=9),
            TDSStage(256, conv_kernel=9, conv_stride=2, tds_kernel=5, out_features=FEATURE_DIM),
        )

    def forward(self, emg: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.layers(emg)


class Decoder(nn.Module):
    """Two-layer LSTM -> LeakyReLU -> Linear(512, 40); output scaled by 0.01."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(
            FEATURE_DIM + POSE_DIM, LSTM_HIDDEN, num_layers=LSTM_LAYERS, batch_first=True
        )
        self.mlp_out = nn.Sequential(nn.LeakyReLU(), nn.Linear(LSTM_HIDDEN, 2 * POSE_DIM))

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x [B, L, 84], state (h, c) each [2, B, 512] -> (pos_vel [B, L, 40], new state)."""
        out, new_state = self.lstm(x, state)
        return self.mlp_out(out) * OUTPUT_SCALE, new_state

    def zero_state(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """All-zero LSTM state."""
        h = torch.zeros(LSTM_LAYERS, batch, LSTM_HIDDEN)
        return h, h.clone()


class PoseModel(nn.Module):
    """Container whose parameter names match the upstream layout without ``model.``."""

    def __init__(self):
        super().__init__()
        self.network = Encoder()
        self.decoder = Decoder()


def build_model(seed: int = DEFAULT_SEED) -> PoseModel:
    """Deterministic model: ``torch.manual_seed(seed)``, then PyTorch default init."""
    torch.manual_seed(seed)
    model = PoseModel()
    model.eval()
    return model


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters."""
    return sum(p.numel() for p in module.parameters())


class EncoderExport(nn.Module):
    """ONNX wrapper: emg [1, 16, T] -> features [1, 64, F]."""

    def __init__(self, encoder: Encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, emg: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.encoder(emg)


class DecoderStepExport(nn.Module):
    """ONNX wrapper: one LSTM step. input [1, 84], h0/c0 [2, 1, 512] -> pos_vel [1, 40], h1, c1."""

    def __init__(self, decoder: Decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor):  # noqa: D102
        out, (h1, c1) = self.decoder(x.unsqueeze(1), (h0, c0))
        return out.squeeze(1), h1, c1
