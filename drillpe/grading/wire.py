"""Learner outputs as plain data, from the learner process to the judge.

Saved with ``torch.save`` and read back with ``weights_only=True``, so a
learner process cannot smuggle code into the judge, only tensors and plain
values.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from drillpe.grading.api import ExceptionOut, ObjectOut, TensorOut

MAX_ELEMENTS = 64_000_000  # larger outputs are described, not copied


def encode(obj: Any, depth: int = 0) -> Any:
    if depth > 8:
        return {"__o": type(obj).__name__, "module": False, "text": "(nested too deeply)"}
    if isinstance(obj, torch.Tensor):
        if obj.numel() > MAX_ELEMENTS:
            return {"__o": "Tensor", "module": False, "text": f"huge tensor {tuple(obj.shape)}"}
        return {
            "__t": obj.detach().to("cpu").clone().contiguous(),
            "device": str(obj.device),
            "rg": bool(obj.requires_grad),
        }
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, tuple):
        return {"__tuple": [encode(v, depth + 1) for v in obj]}
    if isinstance(obj, list):
        return [encode(v, depth + 1) for v in obj]
    if isinstance(obj, dict):
        return {"__dict": {str(k): encode(v, depth + 1) for k, v in obj.items()}}
    if isinstance(obj, ExceptionOut):
        return {"__e": obj.__dict__.copy()}
    try:
        text = repr(obj)[:200]
    except Exception:
        text = "(repr failed)"
    return {
        "__o": type(obj).__name__,
        "module": isinstance(obj, torch.nn.Module),
        "text": text,
    }


def decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__t" in obj:
        return TensorOut(data=obj["__t"], device=obj["device"], requires_grad=obj["rg"])
    if "__tuple" in obj:
        return tuple(decode(v) for v in obj["__tuple"])
    if "__dict" in obj:
        return {k: decode(v) for k, v in obj["__dict"].items()}
    if "__e" in obj:
        return ExceptionOut(**obj["__e"])
    if "__o" in obj:
        return ObjectOut(type_name=obj["__o"], is_module=obj["module"], text=obj["text"])
    return obj


def save(path: Path, obj: Any) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> Any:
    return torch.load(path, weights_only=True, map_location="cpu")
