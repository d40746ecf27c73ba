"""Write a small HDF5 file in the upstream session layout, for the TypeScript reader's tests.

Layout (SPEC section 2): group UPSTREAM_GROUP, dataset ``timeseries`` with compound dtype
``{time: f8, joint_angles: f8[20], emg: f4[16]}``, group attributes
``session, side, stage, user, sample_rate (2000), num_channels (16), start, end``.

Content: the first 4000 samples of the golden EMG input (refer/export.py, seed INPUT_SEED)
and deterministic joint angles ``0.3 + 0.25 sin(2 pi (0.5 + 0.05 k) t + 0.3 k)`` rad for
joint k at time t seconds from the start. Contiguous, uncompressed, no timestamps in the
object headers (the file is byte-identical on a rerun).

Usage: python refer/make_hdf5_fixture.py [--out test/fixtures/upstream_small.hdf5]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from export import INPUT_SEED, make_golden_emg  # noqa: E402

# The external format's group name is defined once, in the TypeScript reader (the one place
# our code may name it, SPEC section 1); read it from there so writer and reader cannot differ.
_READER = Path(__file__).resolve().parent.parent / "src" / "acquisition" / "recording.ts"
UPSTREAM_GROUP = re.search(r"UPSTREAM_HDF5_GROUP = '([^']+)'", _READER.read_text(encoding="utf-8")).group(1)

NUM_SAMPLES = 4000
SAMPLE_RATE = 2000
START_TIME = 1_650_000_000.0  # fixed unix time of the first sample
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "test", "fixtures", "upstream_small.hdf5")

TIMESERIES_DTYPE = np.dtype([("time", "<f8"), ("joint_angles", "<f8", (20,)), ("emg", "<f4", (16,))])


def make_timeseries() -> np.ndarray:
    """Structured array [NUM_SAMPLES] with time, joint_angles, emg."""
    emg = make_golden_emg()[:NUM_SAMPLES]
    t = np.arange(NUM_SAMPLES, dtype=np.float64) / SAMPLE_RATE
    k = np.arange(20, dtype=np.float64)
    angles = 0.3 + 0.25 * np.sin(2 * np.pi * (0.5 + 0.05 * k)[None, :] * t[:, None] + 0.3 * k[None, :])
    ts = np.zeros(NUM_SAMPLES, dtype=TIMESERIES_DTYPE)
    ts["time"] = START_TIME + t
    ts["joint_angles"] = angles
    ts["emg"] = emg
    return ts


def write_fixture(path: str) -> None:
    """Write the fixture atomically."""
    ts = make_timeseries()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".hdf5", dir=folder)
    os.close(fd)
    try:
        with h5py.File(tmp, "w", libver="earliest", track_order=False) as f:
            gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
            gcpl.set_obj_track_times(False)
            gid = h5py.h5g.create(f.id, UPSTREAM_GROUP.encode(), gcpl=gcpl)
            group = h5py.Group(gid)
            group.create_dataset("timeseries", data=ts, track_times=False)
            group.attrs["session"] = "fixture_session_0001"
            group.attrs["side"] = "right"
            group.attrs["stage"] = "fixture_stage"
            group.attrs["user"] = "fixture_user_01"
            group.attrs["sample_rate"] = np.int64(SAMPLE_RATE)
            group.attrs["num_channels"] = np.int64(16)
            group.attrs["start"] = np.float64(ts["time"][0])
            group.attrs["end"] = np.float64(ts["time"][-1])
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    """CLI entry."""
    parser = argparse.ArgumentParser(description="Write the upstream-layout HDF5 test fixture.")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    write_fixture(args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, {NUM_SAMPLES} samples, input seed {INPUT_SEED})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
