"""Tools around the grader: bench (speed of a correct answer), doctor (is the
install sound). Neither imports torch in the CLI process."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from drillpe import __version__, render
from drillpe.app import (
    MAX_TIMEOUT_S,
    Device,
    ExerciseArg,
    LangOpt,
    SeedOpt,
    WorkspaceOpt,
    app,
    exercise_or_usage,
    finite,
)
from drillpe.data import bundle, catalog, i18n, places
from drillpe.errors import EXIT_FAILED, EXIT_OK, UsageError


class Dtype(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


@app.command()
def bench(
    exercise_id: ExerciseArg,
    file: Annotated[Path | None, typer.Option("--file", help="Bench this file instead of "
                                              "<workspace>/ID.py.")] = None,
    device: Annotated[Device, typer.Option(
        "--device", help="Where to run your code and the reference.")] = Device.cpu,
    dtype: Annotated[Dtype, typer.Option("--dtype", help="dtype of the inputs.")] = Dtype.float32,
    threads: Annotated[int, typer.Option(
        "--threads", metavar="N", min=0, max=1024, help="CPU threads for torch (one by default: steadier on a busy "
        "machine; 0 = torch's default).")] = 1,
    budget: Annotated[float, typer.Option(
        "--budget", metavar="SECONDS", min=0.05, max=600.0, callback=finite, help="Seconds of repeated runs for each side (with --quick, at most 0.3).")] = 2.0,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Small inputs and few runs: a smoke test, not a measurement.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    seed: SeedOpt = 0,
    timeout: Annotated[float, typer.Option(
        "--timeout", metavar="SECONDS", min=1.0, max=MAX_TIMEOUT_S, callback=finite, help="Seconds allowed to each timing process.")] = 300.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Table and verdict only.")] = False,
    use_compile: Annotated[bool, typer.Option(
        "--compile", help="Also time the production code through torch.compile (needs a C++ "
        "compiler on the CPU; the first compile takes a while).")] = False,
    workspace: WorkspaceOpt = None,
    lang: LangOpt = None,
) -> int:
    """Time a correct answer against a production implementation on realistic sizes.

    Grades first and refuses (exit 1) an answer that fails its core checks.
    Then times your code and a production implementation in your dtype in
    separate processes, one after the other (every call on fresh inputs,
    phases timed from outside the process, medians), and for memory-bound
    calls a plain copy of the same bytes: the copy roofline. Refuses (exit 1)
    a timing it cannot believe (changed clocks, stale cached outputs, lazy
    or aliased outputs). Names recognisable causes of slowness (Python loops,
    a table rebuilt on every call, extra passes over memory, host-device
    synchronisations). The verdict covers the call at the sizes, dtype and
    layout the header shows; the input values, positions included, change
    every call.
    """
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.launch.bench import BenchFailed, BenchOptions
    from drillpe.launch.bench import bench as run_bench
    from drillpe.render import tool_views as show

    exercise = exercise_or_usage(exercise_id)
    if file is None:
        path = places.learner_file(exercise.id, places.workspace(workspace))
        if not path.is_file():
            # deferred: shared with check; loaded only when this command runs
            from drillpe.commands.core import missing_file

            raise UsageError(missing_file(exercise.id, path))
    else:
        path = file
        if not path.is_file():
            raise UsageError(f"no such file: {file}")
    options = BenchOptions(device=device.value, dtype=dtype.value, threads=threads, seed=seed,
                           budget_s=min(budget, 0.3) if quick else budget, quick=quick, timeout_s=timeout,
                           compile=use_compile)
    with render.Progress(enabled=not as_json, announce=not quiet) as status:
        status.say(catalog.ui("progress_bench", id=exercise.id, device=device.value))
        result, report = run_bench(exercise.id, path, options, places.display(path))
    if report is None:
        if as_json:
            render.print_json({"schema": 1, "exercise": exercise.id, "refused": True,
                               "reason": "the answer does not pass its core checks",
                               "check": result.to_dict()})
        else:
            show.bench_refused(result, places.display(path) if file is not None else None)
        return EXIT_FAILED
    if as_json:
        render.print_json(report.to_dict())
    else:
        show.bench(report, quiet=quiet)
    if any(t.error for t in report.targets):
        if as_json:
            return EXIT_FAILED
        raise BenchFailed("your code passed grading but failed at the bench sizes (above).")
    if any(t.refused for t in report.targets):
        if as_json:
            return EXIT_FAILED
        raise BenchFailed("drillpe refused to report a time for your code (the reasons above).")
    return EXIT_OK


# --------------------------------------------------------------------------- doctor

TORCH_PROBE = """
import json, sys
try:
    import torch
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"})); sys.exit(0)
facts = {"torch": torch.__version__, "cuda_build": torch.version.cuda,
         "cuda_available": torch.cuda.is_available(), "threads": torch.get_num_threads()}
try:
    import numpy
    facts["numpy"] = numpy.__version__
except Exception as exc:
    facts["numpy_error"] = f"{type(exc).__name__}: {exc}"
if facts["cuda_available"]:
    facts["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
print(json.dumps(facts))
sys.stdout.flush()
import os
os._exit(0)  # tearing down an interpreter that holds torch: 0.3-0.6 s for nothing
"""


def _probe_torch() -> dict:
    """torch's facts from a child process: the CLI process never imports torch."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.launch import contract, processes

    proc = processes.spawn(contract.python_argv(TORCH_PROBE), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        processes.kill(proc)
        return {"error": "importing torch took more than 120 s"}
    processes.finished(proc)
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        text = err.decode(errors="replace").strip().splitlines()
        return {"error": (text or [f"exit {proc.returncode}"])[-1]}


def _version_of(dist: str) -> str | None:
    # deferred: loaded only when this command runs, so that every start stays fast
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _writable(path: Path) -> bool:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return os.access(probe, os.W_OK)


def doctor_facts(workspace: Path | None) -> list[dict]:
    rows: list[dict] = []

    def add(what: str, status: str, detail: str, **data) -> None:
        rows.append({"what": what, "status": status, "detail": detail, **data})

    add("drillpe", "ok", f"{__version__} at {Path(__file__).resolve().parent.parent}",
        version=__version__)
    add("python", "ok", f"{platform.python_version()} ({sys.executable})",
        version=platform.python_version())
    for dist in ("typer", "rich", "platformdirs", "fsrs"):
        found = _version_of(dist)
        add(dist, "ok" if found else "fail", found or "not installed", version=found)
    torch = _probe_torch()
    if "error" in torch:
        add("torch", "fail", f"cannot import torch: {torch['error']}. Install PyTorch "
            "(the CPU build on a machine without a GPU).", version=None)
    else:
        build = f"CUDA {torch['cuda_build']} build" if torch["cuda_build"] else "CPU-only build"
        threads = f"{torch['threads']} CPU thread" + ("" if torch["threads"] == 1 else "s")
        add("torch", "ok", f"{torch['torch']} ({build}, {threads})", version=torch["torch"])
        add("numpy", "ok" if "numpy" in torch else "warn",
            torch.get("numpy") or torch.get("numpy_error", "not installed"),
            version=torch.get("numpy"))
        if torch["cuda_available"]:
            add("cuda", "ok", "available: " + ", ".join(torch.get("devices", [])) +
                " (use --device cuda or auto)", available=True)
        else:
            why = ("this torch is a CPU-only build" if not torch["cuda_build"]
                   else "no usable GPU or driver was found")
            add("cuda", "ok", f"not available ({why}); drillpe runs on the CPU",
                available=False)
    ws = places.workspace(workspace)
    started = sorted(p.stem for p in ws.glob("*.py") if p.stem in catalog.ids()) \
        if ws.is_dir() else []
    add("workspace", "ok" if _writable(ws) else "fail",
        f"{ws.resolve()}" + (f" ({len(started)} started: {', '.join(started)})" if started
                             else " (no exercises started yet)" if ws.is_dir()
                             else " (created by drillpe start)")
        + ("" if _writable(ws) else " — not writable"),
        path=str(ws.resolve()), started=started)
    home = places.home()
    add("home", "ok" if _writable(home) else "fail",
        f"{home}" + ("" if _writable(home) else " — not writable"), path=str(home))
    try:
        root = bundle.data_root()
        ids = catalog.ids()
        missing = [str(path.relative_to(root)) for i in ids for path in (
            bundle.stub_path(i), bundle.solution_path(i), bundle.grader_path(i))
            if not path.is_file()]
        if missing:
            add("exercises", "fail", f"{root}: missing {', '.join(missing)}", ids=ids)
        else:
            add("exercises", "ok", f"{len(ids)} found in {root}: {', '.join(ids)}", ids=ids)
    except (FileNotFoundError, OSError, KeyError, ValueError) as exc:
        add("exercises", "fail", str(exc), ids=[])
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.launch import probe

    isolation = probe.run()
    status, sentence = probe.summary(isolation)
    add("isolation", status, sentence, level=isolation["level"],
        facts=isolation.get("facts"), error=isolation.get("error"),
        python_writable=isolation.get("python_writable"))
    lang = i18n.current()
    add("language", "ok", f"{lang} ({'English' if lang == 'en' else 'Chinese'}), from "
        f"{i18n.source()}; change it with --lang en|zh or DRILLPE_LANG", lang=lang)
    add("shell completion", "ok", "`drillpe --install-completion` adds it to your shell "
        "(exercise ids complete too)")
    return rows


@app.command(short_help="Check the install: versions, CUDA, folders, sandbox.")
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    workspace: WorkspaceOpt = None,
    lang: LangOpt = None,
) -> int:
    """Check the install: versions, CUDA, workspace and home, the exercises, the language."""
    # deferred: loaded only when this command runs, so that every start stays fast
    from drillpe.render import tool_views as show

    rows = doctor_facts(workspace)
    ok = not any(row["status"] == "fail" for row in rows)
    if as_json:
        render.print_json({"schema": 1, "ok": ok, "checks": rows})
    else:
        show.doctor([(row["what"], row["status"], row["detail"]) for row in rows])
    return EXIT_OK if ok else EXIT_FAILED
