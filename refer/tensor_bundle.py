"""Reader and writer of the myostream tensor bundle format, MTB v1 (see refer/README.md).

Layout:
  bytes 0-7   ASCII magic ``MYOSTRM1``
  bytes 8-11  uint32 little-endian ``header_bytes``
  then        ``header_bytes`` bytes of UTF-8 JSON:
              {"format":"myostream-tensors","version":1,
               "arrays":[{"name":..,"dtype":"float32","shape":[..],"offset":..,"nbytes":..}],
               "meta":{..}}
  then        array data: each array starts at an absolute offset that is a multiple of 64,
              gap bytes are zero, data is little-endian, C order. Only float32 in version 1.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from typing import Any, Mapping

import numpy as np

MAGIC = b"MYOSTRM1"
FORMAT = "myostream-tensors"
VERSION = 1
ALIGN = 64
PREAMBLE = len(MAGIC) + 4  # magic + uint32 header length


class BundleError(ValueError):
    """A file that is not a valid MTB v1 bundle."""


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _header_json(entries: list[dict[str, Any]], meta: Mapping[str, Any]) -> bytes:
    header = {"format": FORMAT, "version": VERSION, "arrays": entries, "meta": dict(meta)}
    return json.dumps(header, sort_keys=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def encode_bundle(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> bytes:
    """Serialise named float32 arrays (in the mapping's order) and a JSON-able meta dict."""
    meta = {} if meta is None else meta
    prepared: list[tuple[str, np.ndarray]] = []
    for name, arr in arrays.items():
        a = np.asarray(arr)
        if a.dtype != np.float32:
            raise TypeError(f"array {name!r}: only float32 is supported in version 1, got {a.dtype}")
        prepared.append((name, np.asarray(a, dtype="<f4", order="C")))
    # The offsets depend on the header length, which depends on the offsets' digits:
    # iterate until stable (converges in a couple of rounds).
    data_start = _align(PREAMBLE)
    for _ in range(16):
        entries = []
        offset = data_start
        for name, a in prepared:
            entries.append(
                {"name": name, "dtype": "float32", "shape": list(a.shape), "offset": offset, "nbytes": a.nbytes}
            )
            offset = _align(offset + a.nbytes)
        header = _header_json(entries, meta)
        needed = _align(PREAMBLE + len(header))
        if needed == data_start:
            break
        data_start = needed
    else:  # pragma: no cover
        raise RuntimeError("header layout did not converge")
    out = bytearray()
    out += MAGIC
    out += struct.pack("<I", len(header))
    out += header
    for entry, (_, a) in zip(entries, prepared):
        out += b"\0" * (entry["offset"] - len(out))
        out += a.tobytes(order="C")
    return bytes(out)


def decode_bundle(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Parse bundle bytes -> (arrays in file order, meta)."""
    if len(data) < PREAMBLE or data[: len(MAGIC)] != MAGIC:
        raise BundleError("not a myostream tensor bundle (bad magic)")
    (header_bytes,) = struct.unpack("<I", data[len(MAGIC) : PREAMBLE])
    if PREAMBLE + header_bytes > len(data):
        raise BundleError("truncated header")
    try:
        header = json.loads(data[PREAMBLE : PREAMBLE + header_bytes].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"bad header JSON: {exc}") from exc
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise BundleError(f"unsupported format/version: {header.get('format')!r} {header.get('version')!r}")
    arrays: dict[str, np.ndarray] = {}
    for entry in header.get("arrays", []):
        name, dtype, shape = entry["name"], entry["dtype"], [int(d) for d in entry["shape"]]
        offset, nbytes = int(entry["offset"]), int(entry["nbytes"])
        if dtype != "float32":
            raise BundleError(f"array {name!r}: unsupported dtype {dtype!r}")
        if offset % ALIGN or offset < PREAMBLE + header_bytes:
            raise BundleError(f"array {name!r}: bad offset {offset}")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if nbytes != 4 * count or offset + nbytes > len(data):
            raise BundleError(f"array {name!r}: bad size")
        if name in arrays:
            raise BundleError(f"duplicate array {name!r}")
        arrays[name] = np.frombuffer(data, dtype="<f4", count=count, offset=offset).reshape(tuple(shape)).astype(np.float32)
    return arrays, header.get("meta", {})


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes to ``path`` through a temporary file in the same folder and a rename."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bundle(
    path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None
) -> bytes:
    """Write a bundle atomically; returns the bytes written."""
    data = encode_bundle(arrays, meta)
    write_atomic(path, data)
    return data


def read_bundle(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a bundle file -> (arrays, meta)."""
    with open(path, "rb") as f:
        return decode_bundle(f.read())


def write_recording(
    path: str | os.PathLike,
    emg: np.ndarray,
    joint_angles: np.ndarray | None = None,
    meta: Mapping[str, Any] | None = None,
) -> bytes:
    """Recording = bundle with ``emg`` [N, 16], optional ``joint_angles`` [N, 20], meta.sample_rate."""
    emg = np.asarray(emg, dtype=np.float32)
    if emg.ndim != 2 or emg.shape[1] != 16:
        raise ValueError(f"emg must be [N, 16], got {emg.shape}")
    arrays = {"emg": emg}
    if joint_angles is not None:
        ja = np.asarray(joint_angles, dtype=np.float32)
        if ja.shape != (emg.shape[0], 20):
            raise ValueError(f"joint_angles must be [{emg.shape[0]}, 20], got {ja.shape}")
        arrays["joint_angles"] = ja
    full_meta = {"sample_rate": 2000}
    full_meta.update(meta or {})
    return write_bundle(path, arrays, full_meta)
