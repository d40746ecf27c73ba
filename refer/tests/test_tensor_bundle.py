"""MTB v1 round trip and layout."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from tensor_bundle import BundleError, decode_bundle, encode_bundle, read_bundle, write_bundle, write_recording


def test_roundtrip_and_layout(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "a": rng.standard_normal((3, 5)).astype(np.float32),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "b": rng.standard_normal((2, 3, 7)).astype(np.float32),
    }
    meta = {"sample_rate": 2000, "note": "héllo", "nested": {"x": [1, 2]}}
    path = tmp_path / "x.mtb"
    data = write_bundle(path, arrays, meta)
    assert path.read_bytes() == data
    got, got_meta = read_bundle(path)
    assert list(got) == list(arrays)
    for k in arrays:
        assert got[k].dtype == np.float32 and got[k].shape == arrays[k].shape
        assert np.array_equal(got[k], arrays[k])
    assert got_meta == meta

    assert data[:8] == b"MYOSTRM1"
    (hlen,) = struct.unpack("<I", data[8:12])
    raw = data[12 : 12 + hlen].decode("utf-8")
    header = json.loads(raw)
    assert list(header) == ["format", "version", "arrays", "meta"]
    assert header["format"] == "myostream-tensors" and header["version"] == 1
    assert raw == json.dumps(header, separators=(",", ":"), ensure_ascii=True)
    end = 12 + hlen
    for entry in header["arrays"]:
        assert list(entry) == ["name", "dtype", "shape", "offset", "nbytes"]
        assert entry["offset"] % 64 == 0 and entry["offset"] >= end
        assert set(data[end : entry["offset"]]) <= {0}
        end = entry["offset"] + entry["nbytes"]
    assert end == len(data)
    # little-endian float32, C order
    a = header["arrays"][0]
    assert np.array_equal(np.frombuffer(data, "<f4", 15, a["offset"]).reshape(3, 5), arrays["a"])
    assert encode_bundle(arrays, meta) == data  # deterministic


def test_rejects_bad_input():
    with pytest.raises(TypeError):
        encode_bundle({"x": np.zeros(3, dtype=np.float64)})
    with pytest.raises(BundleError):
        decode_bundle(b"NOTMAGIC\0\0\0\0")
    good = encode_bundle({"x": np.zeros(3, dtype=np.float32)})
    with pytest.raises(BundleError):
        decode_bundle(good[:-4])


def test_recording(tmp_path):
    emg = np.arange(32, dtype=np.float32).reshape(2, 16)
    ja = np.ones((2, 20), dtype=np.float32)
    write_recording(tmp_path / "r.mtb", emg, ja, {"source": "test"})
    arrays, meta = read_bundle(tmp_path / "r.mtb")
    assert meta == {"sample_rate": 2000, "source": "test"}
    assert np.array_equal(arrays["emg"], emg) and np.array_equal(arrays["joint_angles"], ja)
    with pytest.raises(ValueError):
        write_recording(tmp_path / "bad.mtb", np.zeros((2, 8), np.float32))
