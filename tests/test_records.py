"""The judge believes nothing it has not checked: every way a records stream
can be missing, extra, malformed or oversized is refused (drillpe.grading.records)."""

import json
import struct

import pytest
import torch

from drillpe.grading import records
from drillpe.grading.api import ExceptionOut, TensorOut
from drillpe.grading.records import Tampered, frame, read_records

API = {"f": {"present": True, "is_class": False, "callable": True, "signature": []}}


def raw(header: dict, blobs: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return b"DPR1" + struct.pack("<I", len(text)) + text + blobs


def load() -> bytes:
    return frame("load", {"status": "ok", "api": API})


def case(check: int, index: int, out, failed: bool = False) -> bytes:
    return frame("case", {"check": check, "case": index, "failed": failed, "inputs": {}},
                 {"out": out})


END = frame("end", {"runtime": {}})


def read(data: bytes, counts=(2, 1)):
    return read_records(data, len(counts), list(counts))


def test_an_honest_stream_round_trips_tensors_of_every_dtype():
    outs = [torch.randn(3, 4), torch.randn(2, dtype=torch.float64).to(torch.bfloat16),
            torch.arange(5), torch.tensor([True, False]), torch.zeros(0, 3)]
    data = load() + case(0, 0, (outs[0], {"b": outs[1:4]})) + case(0, 1, outs[4]) + \
        case(1, 0, 1.5) + END
    got = read(data)
    first, second = got.cases[0][0]["out"], got.cases[0][1]["out"]
    assert torch.equal(first[0].data, outs[0]) and isinstance(first[0], TensorOut)
    assert all(torch.equal(a.data, b) for a, b in zip(first[1]["b"], outs[1:4]))
    assert second.data.shape == (0, 3)
    assert got.cases[1][0]["out"] == 1.5 and got.end == {} and not got.truncated


def test_a_failing_case_may_end_its_check_early():
    error = ExceptionOut("ValueError", "no")
    got = read(load() + case(0, 0, error, failed=True) + case(1, 0, 1) + END)
    assert got.cases[0][0]["failed"] and isinstance(got.cases[0][0]["out"], ExceptionOut)


def test_an_end_may_say_the_device_was_lost_after_the_last_case():
    got = read(load() + case(0, 0, 1) + frame("end", {"runtime": {}, "lost": [0, 0]}))
    assert got.lost == (0, 0) and got.end == {}
    assert read(load() + case(0, 0, 1) + END).lost is None


@pytest.mark.parametrize("data, says", [
    (load() + case(0, 0, 1) + frame("end", {"runtime": {}, "lost": [1, 0]}), "names no case"),
    (load() + frame("end", {"runtime": {}, "lost": [0, 0]}), "names no case"),
    (load() + frame("end", {"runtime": {}, "lost": [-1, -1]}), "names no case"),
    (load() + case(0, 0, 1) + frame("end", {"runtime": {}, "lost": [0, True]}), "names no case"),
    (load() + case(0, 0, 1) + frame("end", {"runtime": {}, "lost": "0:0"}), "names no case"),
    (case(0, 0, 1), "not the load record"),
    (load() + load(), "second load"),
    (load() + case(0, 1, 1), "out of order"),
    (load() + case(0, 0, 1) + case(0, 0, 1), "out of order"),
    (load() + case(1, 0, 1) + case(0, 0, 1), "out of order"),
    (load() + case(2, 0, 1), "never asked for"),
    (load() + case(1, 1, 1), "never asked for"),
    (load() + END + case(0, 0, 1), "after the end"),
    (load() + case(0, 0, ExceptionOut("E", "x"), failed=True) + case(0, 1, 1), "after its failing"),
    (load() + case(0, 0, 1, failed=True), "no exception"),
    (load() + raw({"kind": "mystery", "blobs": []}), "unknown kind"),
    (load() + b"XXXX" + bytes(60), "corrupt"),
    (load() + raw({"kind": "case", "blobs": [4]}, b"\0" * 4), "never asked for"),
    (load() + raw({"kind": "case", "check": 0, "case": 0, "failed": False, "inputs": {},
                   "out": {"__t": 0, "dtype": "float32", "shape": [10**6, 10**6]}, "blobs": [4]},
                  b"\0" * 4), "carries 4 bytes"),
    (load() + raw({"kind": "case", "check": 0, "case": 0, "failed": False, "inputs": {},
                   "out": {"__t": 0, "dtype": "float32", "shape": [0, 2**63]}, "blobs": [0]}),
     "malformed shape"),
    (load() + raw({"kind": "case", "check": 0, "case": 0, "failed": False, "inputs": {},
                   "out": {"__t": 0, "dtype": "object", "shape": [1]}, "blobs": [8]},
                  b"\0" * 8), "unknown dtype"),
    (load() + raw({"kind": "case", "check": 0, "case": 0, "failed": False, "inputs": {},
                   "out": {"__t": 3, "dtype": "float32", "shape": [1]}, "blobs": [4]},
                  b"\0" * 4), "points at no tensor"),
    (load() + raw({"kind": "case", "check": 0, "case": 0, "failed": False, "inputs": {},
                   "out": 1, "blobs": [4]}, b"\0" * 4), "no output refers to"),
    (load() + raw({"kind": "case", "check": 0, "case": 0, "failed": False, "inputs": [],
                   "out": 1, "blobs": []}), "digests are malformed"),
    (load() + raw({"kind": "case", "check": 0, "case": 0, "failed": False, "inputs": {},
                   "out": {"oops": 1}, "blobs": []}), "malformed"),
    (b"DPR1" + struct.pack("<I", 2**30), "header of"),
    (raw({"kind": "load", "status": "ok", "blobs": []}), "no API facts"),
    (raw({"kind": "load", "status": "import", "error": 3, "blobs": []}), "error is malformed"),
])
def test_bad_streams_are_tampering(data, says):
    with pytest.raises(Tampered, match=says):
        read(data)


def test_a_cut_frame_is_noted_not_believed():
    data = load() + case(0, 0, torch.ones(100))
    got = read(data[:-10])
    assert got.truncated and 0 not in got.cases


def test_a_huge_view_is_described_not_copied():
    huge = torch.zeros(1).expand(2**40)
    got = read(load() + case(0, 0, huge))
    out = got.cases[0][0]["out"]
    assert type(out).__name__ == "ObjectOut" and "MiB" in out.text


def test_tensor_subclasses_are_not_tensors_on_the_wire():
    class Sneaky(torch.Tensor):
        pass

    got = read(load() + case(0, 0, torch.ones(2).as_subclass(Sneaky)))
    assert type(got.cases[0][0]["out"]).__name__ == "ObjectOut"


def test_record_files_are_read_capped_and_only_when_regular(tmp_path):
    import os

    path = tmp_path / "records.bin"
    path.write_bytes(b"x" * 100)
    assert records.read_capped(path, 100) == b"x" * 100
    with pytest.raises(Tampered, match="exceed"):
        records.read_capped(path, 99)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(Tampered, match="not a file"):
        records.read_capped(fifo)
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(Tampered):
        records.read_capped(link)
    assert records.read_capped(tmp_path / "missing") == b""


def test_input_digests_see_any_change():
    x = {"q": torch.randn(2, 3), "n": 3}
    before = records.input_digests(x)
    assert set(before) == {"q"}
    x["q"][0, 0] += 1
    assert records.input_digests(x) != before


def test_the_status_line_follows_the_checks_through_any_chunking():
    """drillpe.launch.record_watch reads check indices off the record stream as it
    arrives, whatever the pipe's chunk sizes, skipping the tensor bytes; and it
    stops quietly at bytes that are not records."""
    import torch

    from drillpe.grading.records import frame
    from drillpe.launch.record_watch import RecordProgress

    stream = b"".join([
        frame("load", {"status": "ok"}),
        frame("case", {"check": 0, "case": 0}, {"out": torch.arange(6.0)}),
        frame("case", {"check": 0, "case": 1}, {"out": torch.ones(3, 3)}),
        frame("case", {"check": 2, "case": 0}, {"out": [torch.zeros(4), torch.ones(2)]}),
        frame("end", {"status": "ok"})])
    for chunk in (1, 3, 7, 64, len(stream)):
        seen = []
        scanner = RecordProgress(seen.append)
        for at in range(0, len(stream), chunk):
            scanner.feed(stream[at:at + chunk])
        assert seen == [0, 2] and not scanner.stopped, chunk
    seen = []
    scanner = RecordProgress(seen.append)
    scanner.feed(b"not a record at all" + stream)
    assert seen == [] and scanner.stopped


def test_a_stream_is_refused_at_its_first_bad_frame_not_after_parsing_all(monkeypatch):
    """A learner can send a million tiny frames; the judge stops reading at the
    first one out of place instead of first splitting the whole stream."""
    yielded = []
    real = records.frames_of

    def counting(data):
        for f in real(data):
            yielded.append(f)
            yield f

    monkeypatch.setattr(records, "frames_of", counting)
    flood = case(0, 5, 1) * 100_000  # case 5 of a check with two cases
    with pytest.raises(Tampered, match="never asked for"):
        read(load() + flood + END)
    assert len(yielded) == 2
