"""The records the learner process sends the judge, and their validation.

The learner process writes frames to a pipe; the runner stores them, capped,
in a private file; the judge reads that file back here and believes nothing
it has not checked. A frame is

    b"DPR1" | u32 header length | header (JSON) | tensor bytes

The header is a JSON object ``{"kind": ..., "blobs": [n0, n1, ...], ...}``;
tensors inside it are ``{"__t": i, "dtype": ..., "shape": [...], ...}``,
whose bytes are blob ``i`` of the frame. No pickle anywhere: the judge
never runs anything the learner process wrote.

The kinds, in this order: one ``load``, then ``case`` records (check by
check, case by case from 0), then one ``end``. A load may say ``refused``:
the learner process did not run a file the rules check refuses (under the
guard; the judge believes it only where its own reading agrees). An end may say ``lost``: the
check and case after which the learner's CUDA context was unusable (a
device-side assert); it must name the last case sent, and the judge believes
it only on CUDA, where it only ever makes checks "not run". :func:`read_records`
returns them, or raises :class:`Tampered` with a sentence for the learner
when anything is missing, extra, malformed or oversized.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import struct
from dataclasses import dataclass, field
from typing import Any

import torch

from drillpe.grading.api import ExceptionOut, ObjectOut, TensorOut
from drillpe.launch.contract import MAX_RECORDS_BYTES

MAGIC = b"DPR1"
HEADER = struct.Struct("<I")
MAX_HEADER = 4 * 1024 * 1024
MAX_TENSOR_BYTES = 256 * 1024 * 1024  # larger outputs are described, not sent
MAX_DIMS = 8
MAX_DIM_SIZE = 2**31 - 1  # an empty tensor may claim any other size: torch could not build it
MAX_DEPTH = 12
MAX_TEXT = 4000
DTYPES = {str(t).removeprefix("torch."): t for t in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32,
    torch.int16, torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128)}


class Tampered(Exception):
    """The records are not what an honest learner process writes."""


# --------------------------------------------------------------------------- writing


def _describe(obj: Any) -> dict:
    try:
        text = repr(obj)[:200]
    except Exception:
        text = "(repr failed)"
    return {"__o": type(obj).__name__, "module": isinstance(obj, torch.nn.Module), "text": text}


class Encoder:
    """Turns one output (nested tuples, lists, dicts, tensors, plain values)
    into a JSON tree plus the tensors' bytes."""

    def __init__(self) -> None:
        self.blobs: list[bytes | memoryview] = []

    def tensor(self, t: torch.Tensor) -> dict:
        nbytes = t.numel() * t.element_size()
        if nbytes > MAX_TENSOR_BYTES:  # a zero-stride view of 1e12 elements is never copied
            return {"__o": "Tensor", "module": False,
                    "text": f"a tensor of shape {list(t.shape)} ({nbytes / 2**20:.0f} MiB, more "
                            f"than the {MAX_TENSOR_BYTES // 2**20} MiB drillpe accepts)"}
        dtype = str(t.dtype).removeprefix("torch.")
        if dtype not in DTYPES:
            return {"__o": "Tensor", "module": False, "text": f"a {dtype} tensor"}
        data = t.detach().to("cpu").contiguous()
        # the array's own buffer: frame() copies it once, into the frame
        raw = data.reshape(-1).view(torch.uint8).numpy().data if data.numel() else b""
        self.blobs.append(raw)
        return {"__t": len(self.blobs) - 1, "dtype": dtype, "shape": list(data.shape),
                "device": str(t.device), "rg": bool(t.requires_grad)}

    def encode(self, obj: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH - 2:
            return {"__o": type(obj).__name__, "module": False, "text": "(nested too deeply)"}
        kind = type(obj)
        if kind in (torch.Tensor, torch.nn.Parameter):
            return self.tensor(obj)
        if obj is None or kind in (bool, int, str):
            return obj if kind is not str else obj[:MAX_TEXT]
        if kind is float:
            return obj if math.isfinite(obj) else {"__f": repr(obj)}
        if kind is tuple:
            return {"__tuple": [self.encode(v, depth + 1) for v in obj]}
        if kind is list:
            return [self.encode(v, depth + 1) for v in obj]
        if kind is dict:
            return {"__dict": {str(k)[:200]: self.encode(v, depth + 1) for k, v in obj.items()}}
        if kind is ExceptionOut:
            return {"__e": {"type_name": obj.type_name, "message": obj.message,
                            "traceback": list(obj.traceback),
                            "not_implemented": obj.not_implemented, "exited": obj.exited}}
        return _describe(obj)  # subclasses too: a tensor subclass is not a tensor here


def frame_parts(kind: str, fields: dict | None = None, outputs: dict | None = None
                ) -> list[bytes | memoryview]:
    """One frame in parts: the magic, length and header, then each tensor's bytes
    as a view of the tensor's own memory. Written part by part, the frame's tensor
    bytes are never copied in the learner's process (a rope grade's 7 MB copy cost
    a freshly forked process some 1,900 page faults)."""
    enc = Encoder()
    header = {"kind": kind, **(fields or {})}
    for key, value in (outputs or {}).items():
        header[key] = enc.encode(value)
    header["blobs"] = [len(b) for b in enc.blobs]
    text = json.dumps(header, ensure_ascii=True, allow_nan=False).encode()
    return [MAGIC + HEADER.pack(len(text)) + text, *enc.blobs]


def frame(kind: str, fields: dict | None = None, outputs: dict | None = None) -> bytes:
    """One frame: ``fields`` as they are (plain JSON), ``outputs`` encoded
    (tensors and all), their tensor bytes after the header."""
    return b"".join(frame_parts(kind, fields, outputs))


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def digest(value: torch.Tensor) -> str:
    """The tensor's dtype, shape and bytes, hashed: the judge hashes its own
    copy of the inputs the same way to see whether a call changed them."""
    data = value.detach().to("cpu").contiguous()
    # SHA-256 (hardware-assisted on current CPUs) hashes twice as fast as BLAKE2b here
    h = hashlib.sha256(f"{data.dtype}{list(data.shape)}".encode())
    if data.numel():
        h.update(data.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()[:32]


def input_digests(x: dict) -> dict[str, str]:
    return {k: digest(v) for k, v in x.items() if isinstance(v, torch.Tensor)}


# --------------------------------------------------------------------------- reading


def read_capped(path, cap: int = MAX_RECORDS_BYTES) -> bytes:
    """A regular file's bytes, at most ``cap``; a link, FIFO or device is refused."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise Tampered(f"drillpe's record file cannot be opened ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Tampered("drillpe's record file was replaced by something that is not a file")
        if info.st_size > cap:
            raise Tampered(f"your code's outputs exceed the {cap // 2**20} MiB drillpe accepts")
        chunks, left = [], info.st_size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


@dataclass
class Frame:
    kind: str
    header: dict
    blobs: list[memoryview]
    raw: memoryview  # the whole frame, as it was read
    at: int = 0  # where it starts in the data it was read from


def split_frames(data: bytes) -> tuple[list[Frame], bool]:
    """The whole frames in ``data``, and whether a partial one follows (the
    process was killed while writing it)."""
    frames = list(frames_of(data))
    truncated = bool(frames) and frames[-1] is None
    return [f for f in frames if f is not None], truncated


def frames_of(data: bytes):
    """The whole frames in ``data`` one at a time, then None if a partial one
    follows: a reader can refuse a stream at its first bad frame without
    first parsing all of it (a learner may send a million tiny frames)."""
    view = memoryview(data)
    at = 0
    while at < len(view):
        found = _frame_at(view, at)
        if isinstance(found, int):
            yield None
            return
        header, start, end = found
        blobs, offset = [], start
        for n in header["blobs"]:
            blobs.append(view[offset:offset + n])
            offset += n
        yield Frame(header["kind"], header, blobs, view[at:end], at)
        at = end


def frame_need(data: bytes) -> int:
    """How many bytes the frame at the start of ``data`` needs, as far as its
    header already tells (at least one more than ``data`` holds while the
    header itself is incomplete); raises Tampered for what no frame starts with."""
    found = _frame_at(memoryview(data), 0)
    return found if isinstance(found, int) else found[2]


def _frame_at(view: memoryview, at: int) -> int | tuple[dict, int, int]:
    """The frame starting at ``at``: (its checked header, where its tensor bytes
    start, where it ends), or, while ``view`` ends before that, how many bytes
    from ``at`` would show more of it. Raises Tampered for what no frame is."""
    if len(view) - at < 8:
        return 8
    if bytes(view[at:at + 4]) != MAGIC:
        raise Tampered(f"the records are corrupt at byte {at} (no frame starts there)")
    (size,) = HEADER.unpack(view[at + 4:at + 8])
    if size > MAX_HEADER:
        raise Tampered(f"a record header of {size} bytes (at most {MAX_HEADER})")
    if len(view) - at - 8 < size:
        return 8 + size
    try:
        header = json.loads(bytes(view[at + 8:at + 8 + size]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Tampered(f"a record header at byte {at} is not valid JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise Tampered(f"a record at byte {at} has no kind")
    sizes = header.get("blobs")
    if not isinstance(sizes, list) or not all(_is_count(n) for n in sizes):
        raise Tampered(f"a record at byte {at} lists malformed tensor sizes")
    start = at + 8 + size
    end = start + sum(sizes)
    if end > len(view):
        return end - at
    return header, start, end


def _is_count(n: Any) -> bool:
    return type(n) is int and 0 <= n <= MAX_TENSOR_BYTES


def decode(node: Any, blobs: list[memoryview], depth: int = 0, used: set | None = None) -> Any:
    """A JSON tree from a frame back to outputs (TensorOut, tuples, ...), checked."""
    used = set() if used is None else used
    if depth > MAX_DEPTH:
        raise Tampered("an output is nested too deeply")
    if node is None or type(node) in (bool, int, float):
        return node
    if type(node) is str:
        return node[:MAX_TEXT]
    if type(node) is list:
        return [decode(v, blobs, depth + 1, used) for v in node]
    if type(node) is not dict or len(node) == 0:
        raise Tampered("an output record is malformed")
    if "__t" in node:
        return _tensor(node, blobs, used)
    if "__tuple" in node and type(node["__tuple"]) is list:
        return tuple(decode(v, blobs, depth + 1, used) for v in node["__tuple"])
    if "__dict" in node and type(node["__dict"]) is dict:
        return {str(k): decode(v, blobs, depth + 1, used) for k, v in node["__dict"].items()}
    if "__f" in node and node["__f"] in ("inf", "-inf", "nan"):
        return float(node["__f"])
    if "__e" in node and type(node["__e"]) is dict:
        e = node["__e"]
        tb = e.get("traceback", [])
        if not (type(e.get("type_name")) is str and type(e.get("message")) is str
                and type(tb) is list and all(type(x) is str for x in tb)):
            raise Tampered("an exception record is malformed")
        return ExceptionOut(type_name=e["type_name"][:200], message=e["message"][:MAX_TEXT],
                            traceback=[x[:MAX_TEXT] for x in tb[:40]],
                            not_implemented=e.get("not_implemented") is True,
                            exited=e.get("exited") is True)
    if "__o" in node and type(node["__o"]) is str:
        return ObjectOut(type_name=node["__o"][:200], is_module=node.get("module") is True,
                         text=str(node.get("text", ""))[:MAX_TEXT])
    raise Tampered("an output record is malformed")


def _tensor(node: dict, blobs: list[memoryview], used: set) -> TensorOut:
    index, dtype_name, shape = node.get("__t"), node.get("dtype"), node.get("shape")
    if type(index) is not int or not 0 <= index < len(blobs) or index in used:
        raise Tampered("a tensor record points at no tensor data")
    used.add(index)
    dtype = DTYPES.get(dtype_name) if type(dtype_name) is str else None
    if dtype is None:
        raise Tampered(f"a tensor record has an unknown dtype {str(dtype_name)[:40]!r}")
    if type(shape) is not list or len(shape) > MAX_DIMS or \
            not all(type(n) is int and 0 <= n <= MAX_DIM_SIZE for n in shape):
        raise Tampered("a tensor record has a malformed shape")
    numel = math.prod(shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    blob = blobs[index]
    if numel * itemsize != len(blob):
        raise Tampered(f"a tensor record of shape {shape} and dtype {dtype_name} carries "
                       f"{len(blob)} bytes, not {numel * itemsize}")
    data = torch.frombuffer(bytearray(blob), dtype=dtype).reshape(shape) if numel else \
        torch.empty(shape, dtype=dtype)
    device = node.get("device")
    return TensorOut(data=data, device=device[:40] if type(device) is str else "cpu",
                     requires_grad=node.get("rg") is True)


# --------------------------------------------------------------------------- the whole stream


@dataclass
class Records:
    """What the learner process sent, checked for shape and order."""

    load: dict | None = None
    cases: dict[int, list[dict]] = field(default_factory=dict)  # check index -> records
    end: dict | None = None
    truncated: bool = False  # a frame was cut short (the process was killed mid-write)
    lost: tuple[int, int] | None = None  # (check, case) after which CUDA was unusable


def read_records(data: bytes, n_checks: int, case_counts: list[int]) -> Records:
    """Parse and check the stream (see the module docstring). ``case_counts``
    is how many cases each check declares."""
    records = Records()
    last: tuple[int, int] = (-1, -1)
    for number, f in enumerate(frames_of(data)):
        if f is None:
            records.truncated = True
            break
        if records.end is not None:
            raise Tampered("records arrived after the end record")
        if f.kind == "load":
            if number != 0:
                raise Tampered("a second load record")
            records.load = _checked_load(f)
            continue
        if records.load is None:
            raise Tampered("the first record is not the load record")
        if f.kind == "case":
            check, case = f.header.get("check"), f.header.get("case")
            if type(check) is not int or type(case) is not int or \
                    not 0 <= check < n_checks or not 0 <= case < case_counts[check]:
                raise Tampered("a record for a check or case drillpe never asked for")
            expected = (last[0], last[1] + 1) if check == last[0] else (check, 0)
            if (check, case) != expected or check < last[0]:
                raise Tampered(f"the record of check {check} case {case} is out of order")
            previous = records.cases.get(check)
            if previous and previous[-1]["failed"]:
                raise Tampered(f"check {check} has records after its failing case")
            last = (check, case)
            records.cases.setdefault(check, []).append(checked_case(f))
        elif f.kind == "end":
            runtime = f.header.get("runtime")
            if type(runtime) is not dict:
                raise Tampered("the end record is malformed")
            lost = f.header.get("lost")
            if lost is not None:
                if type(lost) is not list or [type(v) for v in lost] != [int, int] or \
                        tuple(lost) != last or last[0] < 0:
                    raise Tampered("the end record's lost device names no case it ran")
                records.lost = (lost[0], lost[1])
            records.end = runtime
        else:
            raise Tampered(f"a record of unknown kind {f.kind[:40]!r}")
    return records


def _checked_load(f: Frame) -> dict:
    header = f.header
    status = header.get("status")
    if status not in ("ok", "syntax", "import", "exit", "refused"):
        raise Tampered("the load record is malformed")
    if status == "refused":  # the learner process did not run a file the rules refuse
        if type(header.get("finding")) is not str:
            raise Tampered("the load record is malformed")
        return {"status": "refused", "finding": header["finding"][:300]}
    if status == "ok":
        if type(header.get("api")) is not dict:
            raise Tampered("the load record has no API facts")
        return {"status": "ok", "api": header["api"]}
    error = decode(header.get("error"), f.blobs)
    if not isinstance(error, ExceptionOut):
        raise Tampered("the load record's error is malformed")
    return {"status": status, "error": error}


def checked_case(f: Frame) -> dict:
    """A case frame's record: ``out``, ``failed``, ``inputs`` (the digests the
    learner process reports), and where the frame lies in the data (``at``,
    ``size``)."""
    inputs = f.header.get("inputs", {})
    if type(inputs) is not dict or not all(type(v) is str for v in inputs.values()):
        raise Tampered("a case record's input digests are malformed")
    if type(f.header.get("failed")) is not bool or "out" not in f.header:
        raise Tampered("a case record is malformed")
    used: set[int] = set()
    out = decode(f.header["out"], f.blobs, used=used)
    if len(used) != len(f.blobs):
        raise Tampered("a case record carries tensor data no output refers to")
    if f.header["failed"] and not isinstance(out, ExceptionOut):
        raise Tampered("a case record says it failed but carries no exception")
    return {"out": out, "failed": f.header["failed"], "inputs": inputs, "at": f.at,
            "size": len(f.raw)}
