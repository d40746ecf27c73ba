"""Import an upstream PyTorch Lightning checkpoint (.ckpt) into our PoseModel.

The checkpoint is a ``torch.save`` zip whose ``state_dict`` holds the weights under the
prefix ``model.`` (SPEC section 2). Keys without that prefix are ignored. Any missing,
unexpected or shape-mismatched model key refuses the import with a message listing them.

``torch.load(weights_only=True)`` is tried first. Lightning checkpoints may pickle
hyper-parameter objects, which that safe loader rejects; loading them with
``weights_only=False`` executes pickled code and is only done when the caller says it trusts
the file (``trust=True`` / ``--trust-checkpoint``).

CLI: ``python refer/checkpoint.py FILE [--trust-checkpoint]`` checks a checkpoint and prints
a summary.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from typing import Any, Mapping

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from model import PoseModel, count_parameters  # noqa: E402

PREFIX = "model."


class CheckpointError(ValueError):
    """A checkpoint that cannot be imported."""


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_raw(path: str | os.PathLike, trust: bool = False) -> Any:
    """torch.load with weights_only=True; weights_only=False only when ``trust``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch raises various unpickling errors
        if not trust:
            raise CheckpointError(
                f"{path}: the safe loader (torch.load weights_only=True) refused this file "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
                "Lightning checkpoints may pickle hyper-parameter objects; if you trust the file, "
                "pass --trust-checkpoint to load it with weights_only=False (this runs pickled code)."
            ) from exc
    return torch.load(path, map_location="cpu", weights_only=False)


def extract_model_state(raw: Any) -> dict[str, torch.Tensor]:
    """``state_dict`` entries with the ``model.`` prefix, prefix stripped."""
    if not isinstance(raw, Mapping) or "state_dict" not in raw:
        raise CheckpointError("checkpoint has no 'state_dict' (not a Lightning checkpoint?)")
    state = raw["state_dict"]
    if not isinstance(state, Mapping):
        raise CheckpointError("'state_dict' is not a mapping")
    out = {k[len(PREFIX) :]: v for k, v in state.items() if isinstance(k, str) and k.startswith(PREFIX)}
    if not out:
        raise CheckpointError(f"'state_dict' has no keys with the prefix {PREFIX!r}")
    return out


def check_state(model: PoseModel, state: Mapping[str, torch.Tensor]) -> None:
    """Raise CheckpointError listing missing, unexpected and shape-mismatched keys."""
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in state)
    unexpected = sorted(k for k in state if k not in expected)
    mismatched = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and (not isinstance(state[k], torch.Tensor) or tuple(state[k].shape) != tuple(expected[k].shape))
    )
    if missing or unexpected or mismatched:
        lines = ["checkpoint does not match the model structure:"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
            if items:
                lines.append(f"  {title} ({len(items)}):")
                lines += [f"    {PREFIX}{item}" for item in items]
        raise CheckpointError("\n".join(lines))


def load_checkpoint(path: str | os.PathLike, trust: bool = False) -> PoseModel:
    """Build a PoseModel with the checkpoint's weights (float32, eval mode)."""
    raw = load_raw(path, trust=trust)
    state = extract_model_state(raw)
    model = PoseModel()
    check_state(model, state)
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)
    model.eval()
    return model


def main(argv: list[str] | None = None) -> int:
    """CLI: check a checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--trust-checkpoint", action="store_true", help="allow weights_only=False loading")
    args = parser.parse_args(argv)
    try:
        model = load_checkpoint(args.checkpoint, trust=args.trust_checkpoint)
    except (CheckpointError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"ok: {os.path.basename(args.checkpoint)} sha256={sha256_file(args.checkpoint)} "
        f"encoder={count_parameters(model.network)} decoder={count_parameters(model.decoder)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
