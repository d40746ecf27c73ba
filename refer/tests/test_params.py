"""Parameter counts and upstream key layout."""

from __future__ import annotations

from model import build_model, count_parameters


def test_parameter_counts(model):
    enc, dec = count_parameters(model.network), count_parameters(model.decoder)
    assert enc == 2_633_856 and abs(enc - 2.63e6) < 0.01e6
    assert dec == 3_346_472 and abs(dec - 3.35e6) < 0.01e6


def test_key_layout(model):
    keys = set(model.state_dict())
    for k in [
        "network.layers.0.conv.0.weight",
        "network.layers.0.norm.weight",
        "network.layers.1.conv.0.weight",
        "network.layers.2.layers.conv1dblock.conv.0.weight",
        "network.layers.2.layers.tds_block.tds_conv_blocks.0.conv2d.weight",
        "network.layers.2.layers.tds_block.tds_conv_blocks.0.layer_norm.weight",
        "network.layers.2.layers.tds_block.tds_conv_blocks.1.fc_block.0.weight",
        "network.layers.2.layers.tds_block.tds_conv_blocks.1.fc_block.2.weight",
        "network.layers.3.layers.tds_block.tds_conv_blocks.3.layer_norm.bias",
        "network.layers.3.linear_layer.weight",
        "decoder.lstm.weight_ih_l0",
        "decoder.lstm.weight_hh_l1",
        "decoder.mlp_out.1.weight",
    ]:
        assert k in keys, k
    sd = model.state_dict()
    assert tuple(sd["network.layers.2.layers.tds_block.tds_conv_blocks.0.conv2d.weight"].shape) == (16, 16, 1, 9)
    assert tuple(sd["network.layers.3.layers.tds_block.tds_conv_blocks.0.conv2d.weight"].shape) == (16, 16, 1, 5)
    assert tuple(sd["decoder.lstm.weight_ih_l0"].shape) == (2048, 84)
    assert tuple(sd["decoder.mlp_out.1.weight"].shape) == (40, 512)


def test_seeded_weights_are_deterministic():
    a, b, c = build_model(5).state_dict(), build_model(5).state_dict(), build_model(6).state_dict()
    assert all(a[k].equal(b[k]) for k in a)
    assert not a["decoder.lstm.weight_ih_l0"].equal(c["decoder.lstm.weight_ih_l0"])
