"""drillpe bench: refuses wrong answers, times right ones against the
production implementation and a copy roofline, names recognisable causes of
slowness, and refuses timings it cannot believe (one fixture per exploit in
fixtures_bench/, run through the bench without grading, since grading
already refuses most of them on its own).

Runs with --quick (small inputs, few runs): these tests check what the bench
says, never how fast anything is (speed lives in benchmarks/)."""

import ast
import json
import os
import platform
import re
import shutil
import statistics
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, cli_run, run_cli

from drillpe.data import catalog
from drillpe.launch.bench import ON_ITS_OWN, Cause, TargetBench, explain

SLOW = Path(__file__).resolve().parent / "fixtures_bench"
GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"


@pytest.fixture
def bench_json(capfd, warm_grades):
    """`drillpe bench ARGS --quick --json`, run in this process: what the bench says does
    not depend on how its grade ran, so that grade goes to the shared warm workers
    (the timed run still starts its own two processes, as it does for a user).
    test_a_cache_that_passes_grading_is_refused_through_the_cli and the tests of
    tests/test_conventions.py run the whole command in a process of its own."""
    def run(*args):
        res = cli_run(capfd, "bench", *args, "--quick", "--json")
        return res, (json.loads(res.stdout) if res.stdout.strip() else None)

    return run


def causes(doc):
    return [c["code"] for c in doc["targets"][0]["causes"]]


def test_refuses_an_answer_that_fails_its_core_checks(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    res = run_cli("bench", "rope", "--file", FIXTURES / "rope" / "half_split.py", "--quick")
    assert res.returncode == 1, res.stderr
    # not a terminal: no ANSI codes (test_conventions.py's rule, checked on this run)
    assert "\x1b[" not in res.stdout and "\x1b[" not in res.stderr
    assert "does not pass its core checks" in res.stderr
    assert "rope.half_split" in res.stderr
    # the check it suggests grades the same file (helper-145's graded the workspace's)
    assert re.search(r"`drillpe check rope --file \S*rope/half_split\.py`", res.stderr), \
        res.stderr
    assert "median" not in res.stdout  # nothing was timed
    # no status line in a pipe: what the wait is goes to stderr once, first (a newcomer
    # took 15 s of silence for a hang); stdout holds only the result
    assert res.stderr.startswith("bench rope on cpu: grading your answer first"), res.stderr
    assert res.stderr.count("grading your answer first") == 1
    assert "grading your answer first" not in res.stdout


def test_the_refusal_gives_a_score_only_where_an_exercise_check_fails():
    """The score counts the exercise's checks: a file that passes all of them can still
    fail the rules check (a core check of the file itself), and "(score 100%)" beside
    "does not pass its core checks yet" read as a contradiction."""
    from types import SimpleNamespace

    from drillpe import render
    from drillpe.render.tool_views import bench_refused

    rules = SimpleNamespace(level="core", status="fail", title="Follows the exercise's rules",
                            diagnosis=["rules.tampering"])
    said = []
    for score in (1.0, 0.5):
        with render.err.capture() as captured:
            bench_refused(SimpleNamespace(exercise="rope", score=score, checks=[rules]))
        said.append(captured.get())
    assert "does not pass its core checks yet: drillpe" in said[0] and "score" not in said[0]
    assert "does not pass its core checks yet (score 50%)" in said[1]
    assert all("rules.tampering" in text for text in said)


def test_refusal_as_json(bench_json):
    res, doc = bench_json("rope", "--file", FIXTURES / "rope" / "half_split.py")
    assert res.returncode == 1
    assert doc["refused"] is True and doc["check"]["passed"] is False


def test_loop_over_positions_is_named(bench_json):
    res, doc = bench_json("rope", "--file", SLOW / "rope_slow_loop.py")
    assert res.returncode == 0, res.stderr
    target = doc["targets"][0]
    assert target["name"] == "RoPE" and target["error"] is None
    assert target["learner"]["runs"] >= 3 and target["reference"]["runs"] >= 3
    assert "bench.python_loop" in causes(doc)
    loop = next(c for c in target["causes"] if c["code"] == "bench.python_loop")
    assert "positions" in loop["message"]
    assert target["python_work"]["axes"]["L"]["ops"] > 1.5 * target["python_work"]["base_ops"]


def test_table_rebuilt_every_call_is_named(bench_json):
    res, doc = bench_json("rope", "--file", SLOW / "rope_table_every_call.py")
    assert res.returncode == 0, res.stderr
    assert causes(doc) == ["bench.table_rebuilt"]


def test_a_table_of_sines_rebuilt_every_call_is_named_though_it_is_a_small_share():
    """A helper's Llama-style RoPE built freqs_cis on every call: 16% of the elements the
    call writes, under TABLE_SHARE, so no cause was named for "1.31x slower". An
    element a sin, cos, power or polar writes counts TABLE_OP_WEIGHT times."""
    import torch

    from drillpe.grading import bench_child, bench_specs
    from drillpe.grading.loading import load_module

    [target] = bench_specs.targets("rope")
    size, cpu = bench_specs.size_for(target, "cpu", quick=False), torch.device("cpu")

    def codes(mod):
        with torch.no_grad():
            trace = bench_child.trace_call(target, mod, size, cpu, torch.float32, 0, False)
        side = {"median_s": 1.0}
        found = explain(TargetBench(name=target.name, call=target.call, size=size,
                                    learner=side, reference=side,
                                    trace={**trace, "has_data_inputs": True}), "cpu")
        return [c.code for c in found], trace

    found, trace = codes(load_module(SLOW / "rope_freqs_cis_every_call.py", "freqs_cis_call"))
    assert trace["const_written"] < 0.2 * trace["written"]  # under TABLE_SHARE by elements
    assert found == ["bench.table_rebuilt"]
    assert codes(bench_child.load_fast("rope"))[0] == []


def test_work_on_a_modules_weights_is_not_taken_for_a_table_of_shapes():
    """A newcomer's: relative's model answer looks its (Lq, Lk, head_dim) embeddings up
    from its weights on every call, and the bench told them that 71-86% of a call's
    writes depended only on shapes, to be cached. The timed calls get their weights
    refilled like their inputs, so a cached lookup was refused as stale. Work on the
    weights is work on data now; the index the lookup uses is still work on shapes."""
    import torch

    from drillpe.grading import bench_child, bench_specs
    from drillpe.grading.common import load_solution
    from drillpe.launch.bench import TABLE_SHARE

    [target] = bench_specs.targets("relative")
    trace = bench_child.trace_call(target, load_solution("relative"), dict(target.trace_size),
                                   torch.device("cpu"), torch.float32, 0, False)
    assert 0 < trace["const_written"] < TABLE_SHARE * trace["written"], trace


@pytest.mark.parametrize("exercise_id, weights", [("t5_bias", True), ("rope_scaling", False),
                                                 ("sinusoidal", False)])
def test_a_call_on_sizes_alone_that_rebuilds_its_table_is_told_to_keep_it(exercise_id, weights):
    """A newcomer's t5_bias bucketed the whole (Lq, Lk) matrix on every call (81% of its
    writes) and was told nothing: its call takes sizes only, and the bench took that for
    a call with no data at all, where it named no table. Its module's weights are its
    data (refilled every phase), so the buckets are a table to keep. rope_scaling and
    sinusoidal hold no weights: what they return is to be kept whole. The production
    code keeps both, and is told nothing."""
    import torch

    from drillpe.grading import bench_child, bench_specs
    from drillpe.grading.common import load_solution
    from drillpe.launch.bench import explain

    [target] = bench_specs.targets(exercise_id)

    def causes(mod):
        trace = bench_child.trace_call(target, mod, dict(target.trace_size),
                                       torch.device("cpu"), torch.float32, 0, False)
        assert (trace["data_tensors"] > 0) == weights, trace
        side = {"median_s": 1.0}
        return explain(TargetBench(name=target.name, call=target.call, size={}, learner=side,
                                   reference=side,
                                   trace=dict(trace, has_data_inputs=weights)), "cpu")

    [cause] = causes(load_solution(exercise_id))  # the model answer builds it every call
    assert cause.code == "bench.table_rebuilt", cause
    if weights:
        assert "Lq + Lk - 1" in cause.message and "new values every phase" in cause.message
    else:
        assert "depends only on its arguments" in cause.message and target.call in cause.message
    assert causes(bench_child.load_fast(exercise_id)) == []


def test_a_loop_over_t5s_buckets_is_named():
    """A newcomer's bucket-by-bucket t5_bias (67x) was told of no loop: the bench doubles
    its axes to see a loop grow, and the buckets were none of them."""
    import torch

    from drillpe.grading import bench_child, bench_specs
    from drillpe.grading.common import load_solution
    from drillpe.grading.loading import load_module
    from drillpe.launch.bench import explain

    [target] = bench_specs.targets("t5_bias")

    def loops(mod):
        work = bench_child.python_work(target, mod, torch.device("cpu"), torch.float32, 0)
        side = {"median_s": 1.0}
        causes = explain(TargetBench(name=target.name, call=target.call, size={"K": 32},
                                     learner=side, reference=side, python_work=work,
                                     loop_advice=target.loop_advice,
                                     trace={"ops": 0, "has_data_inputs": True}), "cpu")
        return [c.message for c in causes if c.code == "bench.python_loop"]

    [loop] = loops(load_module(SLOW / "t5_bias_bucket_loop.py", "t5_bias_bucket_loop"))
    assert "a Python loop over buckets" in loop and "Lq + Lk - 1 distances" in loop
    assert loops(load_solution("t5_bias")) == loops(bench_child.load_fast("t5_bias")) == []


@pytest.mark.parametrize("exercise_id", ["rope_neox", "rope_2d"])
def test_positions_move_every_phase_and_the_reference_moves_them_alike(exercise_id):
    """Integer positions were the same objects with the same values in every timed call:
    a reviewer's rope_2d kept its table per (rows, cols) objects and read "1.57x faster"
    for code 10x slower. Moved in place, the next reviewer's turned its kept table by the
    first position's move; moved alike, the next kept its table per pattern or per shape;
    shuffled too, the next kept it per sorted pattern; moved by less than 512, the next
    kept tables for that window. Then, with one kind of draw at a time left out,
    reviewers' files looped in Python for ids in order, any real grid, packed or padded
    ids, or shuffled grids, and read "same" or faster for code 8-25x slower there; then,
    with each kind drawn narrowly, for more than four packed documents, other grid shapes
    or packed images ("same" to "1.27x slower" for code 8-18x slower). Every refill now
    hands each slot new position tensors of kind i % POSITION_KINDS, each kind drawn
    widely (_draw_kind), rope_neox's ids as a (1, L) row in every other draw, and the
    reference's side draws the same."""
    import random

    import torch

    from drillpe.data import bundle
    from drillpe.grading import bench_child, bench_specs
    from drillpe.grading.loading import load_module

    answer = load_module(bundle.solution_path(exercise_id), f"moved_{exercise_id}")
    [target] = bench_specs.targets(exercise_id)
    assert target.positions
    kinds = bench_child.POSITION_KINDS
    size, cpu = bench_specs.size_for(target, "cpu", quick=True), torch.device("cpu")
    n = size["L"] if exercise_id == "rope_neox" else size["S"] ** 2
    grid = exercise_id == "rope_2d"
    with torch.no_grad():
        slots = bench_child.Slots(target, answer, size, cpu, torch.float32, 0, count=2 * kinds)
        seen, shapes, starts = [], set(), {kind: set() for kind in range(kinds)}
        widths, restarts, origins, padded, run_starts = set(), set(), set(), set(), set()
        for phase in range(8):
            slots.refresh(random.Random(phase))
            for i, x in enumerate(slots.inputs):
                kind = bench_child.position_kind(slots.shifts[i])
                assert kind == i % kinds
                flat = {name: x[name].reshape(-1) for name in target.positions}
                for name, t in flat.items():
                    assert all(x[name] is not old for old in seen)  # (seen keeps them
                    seen.append(x[name])  # alive: no id is reused)
                    shapes.add(tuple(x[name].shape))
                    assert 0 <= int(t.min()) and int(t.max()) < target.position_limit
                    assert bench_child._storage(x[name]) in slots.every_storage()  # stay
                    starts[kind].add(int(t.min()))
                # kinds 1-3: a whole prompt or grid (any shape of n cells), from 0 or
                # from a start, in order or (3) shuffled; or a prompt left-padded
                if kind == 1 and not grid and not torch.equal(flat["position_ids"],
                                                              torch.arange(n)):
                    t = flat["position_ids"]
                    pad = int((t != torch.arange(n) - (n - int(t.max()) - 1)).sum())
                    padded.add(pad)
                    assert torch.equal(t[pad:], torch.arange(n - pad))
                    assert t[:pad].unique().tolist() in ([0], [1]) and 0 < pad <= n // 2
                elif kind in (1, 2, 3):
                    moved = {name: t - t.min() for name, t in flat.items()}
                    if grid:
                        width = int(moved["cols"].max()) + 1
                        widths.add(width)
                        whole = [torch.arange(n) // width, torch.arange(n) % width]
                    else:
                        whole = [torch.arange(n)]
                    if kind == 3:  # (a 1 x n grid's rows are all 0, shuffled or not)
                        assert not all(torch.equal(t, want) for t, want in
                                       zip(moved.values(), whole, strict=True))
                    for t, want in zip(moved.values(), whole, strict=True):
                        assert torch.equal(t if kind != 3 else t.sort().values,
                                           want if kind != 3 else want.sort().values)
                    if kind == 3 and grid:  # one order for both: the grid's cells
                        cells = set(zip(*(t.tolist() for t in moved.values()), strict=True))
                        assert cells == set(zip(*(t.tolist() for t in whole), strict=True))
                    if kind == 1:
                        assert all(int(t.min()) == 0 for t in flat.values())
                if kind == 4 and grid:  # a grid's cells picked apart, or packed grids
                    cells = list(zip(*(t.tolist() for t in flat.values()), strict=True))
                    origins.add(cells.count((0, 0)))
                    if cells.count((0, 0)) < 2:
                        assert len(set(cells)) == n
                elif kind == 4:  # runs that each count up: packed documents, each
                    t = flat["position_ids"]  # from 0 or from a start of its own
                    counted = int(((t[1:] - t[:-1]) != 1).sum())
                    restarts.add(counted)
                    assert 1 <= counted <= n // 4
                    run_starts.add(int(t[0]) == 0 and counted == int((t[1:] == 0).sum()))
                want = bench_child.call_drawn(target, answer, size, cpu, torch.float32, 0,
                                              slots.factors[i], slots.shifts[i])
                torch.testing.assert_close(slots.fns[i](), want)
    assert len(starts[0]) > 4 and len(starts[2]) > 4 and starts[1] == {0}
    if grid:  # square and other shapes; packed grids, of two images or more
        assert round(n ** 0.5) in widths and len(widths) > 2, widths
        assert max(origins) >= 2 and min(origins) == 0, origins
    else:  # few documents and many (helper-142's loop took more than four restarts);
        assert min(restarts) <= 4 < max(restarts), restarts  # prompts padded and not
        assert padded and len(starts[1]) == 1, padded
        assert run_starts == {True, False}  # runs from 0, and from starts of their own
    assert shapes == ({(n,), (1, n)} if target.position_rows else {(n,)})


def _share_of_drawn_calls(exercise_id: str, name: str, hit) -> tuple[int, int]:
    """(calls whose inputs ``hit(mod, x)`` holds for, calls) over 40 refills of a slot
    of each kind of positions, drawn as the bench draws them (Slots.refresh) at the
    default CPU size, for the fixture ``name`` (not timed)."""
    import random

    import torch

    from drillpe.grading import bench_child, bench_specs
    from drillpe.grading.loading import load_module

    [target] = bench_specs.targets(exercise_id)
    mod = load_module(SLOW / f"{name}.py", name)
    size, cpu = bench_specs.size_for(target, "cpu", quick=False), torch.device("cpu")
    hits, calls = 0, 0
    with torch.no_grad():
        slots = bench_child.Slots(target, mod, size, cpu, torch.float32, 0,
                                  count=bench_child.POSITION_KINDS)
        for phase in range(40):
            slots.refresh(random.Random(phase))
            hits += sum(bool(hit(mod, x)) for x in slots.inputs)
            calls += len(slots.inputs)
    return hits, calls


@pytest.mark.parametrize("name, fast", [
    ("rope_neox_window_tables", lambda x: all(
        4096 <= int(x[n].min()) and int(x[n].max()) < 6912 for n in ("position_ids",))),
    ("rope_2d_window_tables", lambda x: all(
        1 <= int(x[n].min()) and int(x[n].max()) < 1040 for n in ("rows", "cols")))])
def test_tables_for_a_window_of_positions_miss_most_timed_calls(name, fast):
    """The reviewers' window files (tests/fixtures_bench/*_window_tables.py: "1.3x" and
    "1.6x faster" for code 20x and 8x slower off the window) are fast only where every
    position of a call falls in their window: at the bench's default size, in most of
    its calls they now are not, so no median of theirs can come from the window. Drawn
    as the bench draws them (Slots.refresh), not timed."""
    hits, calls = _share_of_drawn_calls(name.rsplit("_window", 1)[0], name,
                                        lambda mod, x: fast(x))
    assert hits / calls < 0.35, (hits, calls)


@pytest.mark.parametrize("exercise_id, name, slow", [
    ("rope_neox", "rope_neox_many_documents_loop", lambda mod, x: (
        x["position_ids"].dim() == 1 or x["position_ids"].shape[0] == 1)
        and mod.many_documents(x["position_ids"])),
    ("rope_2d", "rope_2d_packed_images_loop", lambda mod, x: mod.several_images(x["rows"],
                                                                                x["cols"])),
    ("rope_2d", "rope_2d_other_shape_loop", lambda mod, x: mod.other_shape(x["rows"],
                                                                           x["cols"])),
    ("rope_neox", "rope_neox_resumed_runs_loop", lambda mod, x: (
        x["position_ids"].dim() == 1 or x["position_ids"].shape[0] == 1)
        and mod.resumed_runs(x["position_ids"])),
    ("rope_2d", "rope_2d_tile_order_loop", lambda mod, x: mod.tile_order(x["rows"],
                                                                         x["cols"]))])
def test_patterns_the_kinds_left_out_now_reach_the_timed_calls(exercise_id, name, slow):
    """helper-142's files looped in Python only for positions no kind of the bench's
    drew: more than four packed documents (at most four restarts were drawn), several
    images packed in one sequence (never two patches at (0, 0)), a whole grid of another
    shape than the square (8 x 32 for 256 patches). They read "same" or up to "1.27x
    slower" for code 8-18x slower there. Then helper-143's, for runs that each resume
    from a start of their own (a continuous batch) and grids in 2 x 2 tile order
    (Qwen2-VL's): "same" for code 7-16x slower. Drawn as the bench draws them
    (Slots.refresh), not timed: a good share of the timed calls now takes their slow
    path (none did)."""
    hits, calls = _share_of_drawn_calls(exercise_id, name, slow)
    assert hits / calls > 0.03, (hits, calls)


def test_a_loop_in_plain_python_is_named_by_the_numbers_it_makes_into_tensors():
    """A reviewer's rope_neox built its angles position by position with math.cos: no
    torch call per turn, so the count of torch calls stayed flat and only its host
    syncs were named, for code 20x slower than production. The numbers a call hands
    torch.tensor in Python lists grow with the positions; a model answer's do not, nor
    do the channels' frequencies made from a comprehension. (Not a trace function of
    lines: under the guard the timing process refuses installing one, drillpe's too.)"""
    import torch

    from drillpe.grading import bench_child, bench_specs
    from drillpe.grading.common import load_solution
    from drillpe.grading.loading import load_module
    from drillpe.launch.bench import _value_loops

    cpu = torch.device("cpu")

    def loops(exercise_id, mod):
        [target] = bench_specs.targets(exercise_id)
        with torch.no_grad():
            work = bench_child.python_work(target, mod, cpu, torch.float32, 0)
        side = {"median_s": 1.0}
        found = explain(TargetBench(name=target.name, call=target.call,
                                    size=dict(target.trace_size), learner=side,
                                    reference=side, python_work=work,
                                    trace={"ops": 0, "has_data_inputs": True}), "cpu")
        return work, [c.message for c in found if c.code == "bench.python_loop"]

    work, [loop] = loops("rope_neox", load_module(SLOW / "rope_neox_window_tables.py", "window"))
    assert work["axes"]["L"]["ops"] - work["base_ops"] < 8  # no torch call per position
    assert "a Python loop over positions and channels" in loop and "Python lists" in loop
    for exercise_id in ("rope_neox", "rope_2d", "rope_scaling", "alibi"):
        assert loops(exercise_id, load_solution(exercise_id))[1] == []
    work = {"base_from_python": 8, "axes": {"D": {"meaning": "channels", "size": 32,
                                                  "base": 16, "from_python": 16, "ops": 3}},
            "base_ops": 3}
    assert _value_loops(work) == []  # [f(i) for i in range(D // 2)]: 8 more for 16 more
    work["axes"]["D"]["from_python"] = 24  # a number for each channel
    assert [axis for axis, _ in _value_loops(work)] == ["D"]


def test_every_phase_and_the_checks_take_each_kind_of_positions(tmp_path):
    """Reviewers' files were fast on the bench's shuffled positions alone and looped in
    Python where positions come in order (rope_neox_in_order_loop.py: "same" for code
    8-10x slower on every real prompt) or form a grid (rope_2d_grid_loop.py: "1.53x
    faster" for 12x slower on any real grid). A phase now makes at least one call of
    each kind however slow a call is, the checked output of each phase takes the kinds
    in turn, the outputs verified are spread over the kinds, and the loop is named
    from the kind of positions that runs it."""
    import random
    import time

    import torch

    from drillpe.grading import bench_child, bench_specs
    from drillpe.grading.bench_specs import Target
    from drillpe.grading.loading import load_module

    kinds = bench_child.POSITION_KINDS
    target = Target(name="t", call="t()", sizes={}, trace_size={}, axes={},
                    inputs=lambda s, device, dtype, gen: {"x": torch.zeros(4),
                                                          "p": torch.arange(4)},
                    data_inputs=("x",), positions=("p",),
                    prepare=lambda mod, x, s: lambda: (time.sleep(0.02), x["x"] + x["p"])[1])
    slots = bench_child.Slots(target, None, {}, torch.device("cpu"), torch.float32, 0)
    checked = []
    run = bench_child.Run("timing", slots, torch.device("cpu"), 0.001,
                          lambda phase, slot, *_: checked.append(slot))
    assert run.calls == kinds  # 20 ms a call, 10 ms a phase: one call, but for the kinds
    bench_child.run_phases([run], torch.device("cpu"), 0.001, bench_child.Marks(None),
                           random.Random(0))
    assert [bench_child.position_kind(slots.shifts[i]) for i in range(kinds)] == list(
        range(kinds))
    assert len(checked) >= kinds and all(  # in turn
        (b - a) % kinds == 1 for a, b in zip(checked, checked[1:], strict=False))
    samples = [{"shift": kinds * n} for n in range(30)] + [{"shift": kinds * n + kind}
                                                          for n in range(2)
                                                          for kind in range(1, kinds)]
    picked = bench_child._by_kind(target, samples, kinds)
    assert sorted(bench_child.position_kind(s["shift"]) for s in picked) == list(range(kinds))

    cpu = torch.device("cpu")
    for exercise_id, name in (("rope_neox", "rope_neox_in_order_loop"),
                              ("rope_2d", "rope_2d_grid_loop")):
        [spec] = bench_specs.targets(exercise_id)
        with torch.no_grad():
            work = bench_child.python_work(spec, load_module(SLOW / f"{name}.py", name),
                                           cpu, torch.float32, 0)
        side = {"median_s": 1.0}
        [loop] = [c.message for c in explain(TargetBench(
            name=spec.name, call=spec.call, size=dict(spec.trace_size), learner=side,
            reference=side, python_work=work, trace={"ops": 0, "has_data_inputs": True}),
            "cpu") if c.code == "bench.python_loop"]
        # the kinds the loop runs for, all of them named (in order: from 0 and from a
        # start; a grid: every kind but any ids)
        looping = [1, 2] if exercise_id == "rope_neox" else [1, 2, 3, 4]
        assert work["kind"] != 0 and work["kinds"] == looping, (name, work["kinds"])
        assert f"{len(looping)} calls in {kinds}" in loop, loop
    # a loop for ids from 0 alone runs for shuffled ones from 0 too (helper-140's: the
    # shuffled kind was traced from a start only, and not named)
    from_0 = tmp_path / "from_0.py"
    from_0.write_text((SLOW / "rope_neox_in_order_loop.py").read_text().replace(
        "if not in_order(ids) and", "if int(flat.min()) != 0 and"))
    [spec] = bench_specs.targets("rope_neox")
    with torch.no_grad():
        work = bench_child.python_work(spec, load_module(from_0, "from_0"), cpu,
                                       torch.float32, 0)
    assert {1, 3, 4} <= set(work["kinds"]) and 2 not in work["kinds"], work["kinds"]
    from drillpe.launch.bench import POSITION_KINDS
    assert len(POSITION_KINDS) == kinds


def test_a_loop_behind_a_table_kept_for_its_positions_is_named():
    """The traced call got the positions the call before it had, so a table kept for
    them hid the Python loop that builds it (reviewers' rope_2d: kept by value, per
    object, or per object and turned by the first position's move), while every timed
    phase's positions are new. The traced call now gets new, moved ones; and a table
    built from positions read into Python (tolist) is data, not a table of shapes."""
    import torch

    from drillpe.grading import bench_child, bench_specs
    from drillpe.grading.common import load_solution
    from drillpe.grading.loading import load_module

    [target] = bench_specs.targets("rope_2d")
    cpu = torch.device("cpu")

    def codes(mod):
        with torch.no_grad():
            work = bench_child.python_work(target, mod, cpu, torch.float32, 0)
            trace = bench_child.trace_call(target, mod, dict(target.trace_size), cpu,
                                           torch.float32, 0, False)
        side = {"median_s": 1.0}
        found = explain(TargetBench(name=target.name, call=target.call,
                                    size=dict(target.trace_size), learner=side,
                                    reference=side, python_work=work,
                                    trace={**trace, "has_data_inputs": True}), "cpu")
        return sorted(c.code for c in found)

    for name in ("rope_2d_memo_loop", "rope_2d_id_cache_loop"):
        assert codes(load_module(SLOW / f"{name}.py", name)) == [
            "bench.host_sync", "bench.python_loop"], name
    assert codes(load_module(SLOW / "rope_2d_id_turned.py", "turned")) == ["bench.python_loop"]
    assert "bench.python_loop" in codes(load_module(SLOW / "rope_2d_sorted_key.py", "sorted_key"))
    assert codes(load_solution("rope_2d")) == codes(bench_child.load_fast("rope_2d")) == []


def test_a_call_the_dtype_cannot_apply_to_is_timed_in_its_own_and_says_so():
    """A newcomer's `bench rope_scaling --dtype bfloat16` printed "bfloat16" over a call
    that takes no tensors and returns float32, checked against bfloat16's tolerance.
    Such a target is timed and checked in float32, and the header says --dtype does not
    apply; t5_bias's module is built in the dtype asked for, as relative's is."""
    import torch

    from drillpe.grading import bench_specs
    from drillpe.grading.common import load_solution
    from drillpe.launch.bench import BenchOptions, BenchReport
    from drillpe.render.tool_views import bench, capture

    for exercise_id in ("rope_scaling", "sinusoidal"):
        [target] = bench_specs.targets(exercise_id)
        assert target.dtype_for(torch.bfloat16) is torch.float32
    [t5] = bench_specs.targets("t5_bias")
    assert t5.dtype_for(torch.bfloat16) is torch.bfloat16
    x = t5.inputs(dict(t5.trace_size), torch.device("cpu"), torch.bfloat16, None)
    assert t5.prepare(load_solution("t5_bias"), x, dict(t5.trace_size))().dtype == torch.bfloat16

    def shown(dtype):
        side = {"median_s": 1.0, "q1_s": 1.0, "q3_s": 1.0, "runs": 10}
        target = TargetBench(name="f", call="f(d)", size={"D": 8}, learner=side,
                             reference=side, dtype=dtype)
        report = BenchReport(exercise="rope_scaling", file="f.py",
                             options=BenchOptions(dtype="bfloat16"),
                             machine={"device": "cpu", "threads": 1, "torch": "2"},
                             targets=[target])
        return " ".join(capture(bench, report, html=False).split()), target.to_dict()["dtype"]

    text, dtype = shown("float32")
    assert "f(d) · float32 D=8" in text and dtype == "float32"
    assert "--dtype bfloat16 does not apply: the call takes no tensors and returns float32" in text
    text, dtype = shown("bfloat16")
    assert "f(d) · bfloat16 D=8" in text and "does not apply" not in text


def test_noisy_times_are_said_where_no_copy_bounds_the_call():
    """A newcomer's t5_bias read "1.44× slower" with its middle half at 5.2–12.1 ms and no
    word of noise (only a copy's spread was read, and no copy bounds that call); three
    reruns said "same"."""
    from drillpe.launch.bench import BenchOptions, BenchReport
    from drillpe.render.tool_views import bench, capture

    def shown(q1, q3):
        mine = {"median_s": 8.2e-3, "q1_s": q1, "q3_s": q3, "runs": 10}
        theirs = {"median_s": 5.7e-3, "q1_s": 5.6e-3, "q3_s": 5.8e-3, "runs": 10}
        target = TargetBench(name="forward", call="T5RelativeBias(h)(L, L)", size={"L": 8},
                             learner=mine, reference=theirs)
        report = BenchReport(exercise="t5_bias", file="t5.py", options=BenchOptions(),
                             machine={"device": "cpu", "threads": 1, "torch": "2"},
                             targets=[target])
        return " ".join(capture(bench, report, html=False).split())

    noisy = shown(5.2e-3, 12.1e-3)
    assert "The times were noisy: your code's middle half spans 5.2 ms–12.1 ms" in noisy
    assert "noisy" not in shown(8.0e-3, 8.4e-3)


def test_a_modules_weights_are_rolled_alike_whatever_order_it_registers_them_in():
    """Each weight of a slot is rolled by a shift of its own. Taken from its place in the
    module, it made the production code's relative, with its two tables registered
    before its projections, refused as stale (a reviewer's): the learner's side rolled
    each weight as another than the reference's side did. The part comes from the key
    seed_parameters seeds the weight by (its shape, or its name)."""
    import random
    import types

    import torch
    from torch import nn

    from drillpe.grading import bench_child, bench_specs

    [target] = bench_specs.targets("relative")
    fast = bench_child.load_fast("relative")

    class Reordered(fast.RelativeMultiHeadAttention):
        def __init__(self, d_model, n_heads, max_relative_position=16, dropout=0.0):
            nn.Module.__init__(self)
            self.d_model, self.n_heads = d_model, n_heads
            self.max_relative_position = max_relative_position
            self.relative_position_k = fast.RelativePosition(d_model // n_heads,
                                                             max_relative_position)
            self.relative_position_v = fast.RelativePosition(d_model // n_heads,
                                                             max_relative_position)
            self.linears = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(4))
            self.dropout = nn.Dropout(dropout)

    assert next(Reordered(8, 2).named_parameters())[0].startswith("relative_position_k")
    learner = types.SimpleNamespace(RelativeMultiHeadAttention=Reordered)
    size, cpu = bench_specs.size_for(target, "cpu", quick=True), torch.device("cpu")
    with torch.no_grad():
        slots = bench_child.Slots(target, learner, size, cpu, torch.float32, 0, count=2)
        slots.refresh(random.Random(3))
        for i in range(2):
            want = bench_child.call_drawn(target, fast, size, cpu, torch.float32, 0,
                                          slots.factors[i], slots.shifts[i])
            torch.testing.assert_close(slots.fns[i](), want, atol=1e-4, rtol=1e-4)


def test_a_tensor_read_off_data_as_an_attribute_is_data():
    """A reviewer's: `weight.T[index]` and `weight.data[index]` (attribute reads, which
    the tracer lets through uncounted) lost the mark, and relative's model answer with
    `embeddings_table.T.T[index]` was told to cache its lookup again."""
    import torch

    from drillpe.grading import bench_child

    weight, index = torch.randn(5, 3), torch.tensor([0, 2, 4])
    tracer = bench_child.Tracer([weight], torch.device("cpu"), False)
    with tracer:
        weight.T.T[index].exp()
        weight.data[index].exp()
        weight.mT[:, index].exp()
    facts = tracer.facts()
    assert facts["written"] > 0 and facts["const_written"] == 0, facts


def test_fast_answer_has_no_causes_and_a_roofline(bench_json):
    res, doc = bench_json("rope", "--file", SLOW / "rope_fast.py")
    assert res.returncode == 0, res.stderr
    target = doc["targets"][0]
    assert causes(doc) == []
    assert target["bytes_moved"] == 4 * 1 * 2 * 256 * 64 * 4  # q, k read and written
    assert target["copy"]["median_s"] > 0
    for key in ("ratio", "learner_roofline", "reference_roofline", "learner_bandwidth_gbs"):
        assert target[key] > 0, key
    assert doc["refused"] is False and target["refused"] == []
    assert target["production"] == "graders/fast" and target["checked_outputs"] >= 5
    mine = target["learner"]
    assert mine["clock"] == "parent" and mine["clock_disagreements"] <= mine["phases"] // 2
    assert mine["phases"] >= 5 and mine["runs"] >= mine["phases"]
    assert target["learner_passes"] > target["reference_passes"] >= 1  # the stack, the casts
    assert doc["device"] == "cpu" and doc["threads"] == 1 and doc["quick"] is True
    if GLIBC:  # the timing processes set it (test_timing_processes_keep_freed_memory)
        assert doc["allocator"] == "freed memory kept"


def test_a_model_answer_is_benched_through_the_cli(isolated_places, bench_json):
    """The model answer as the learner's file, end to end (rope; every other
    exercise's bench spec is run in process below)."""
    ws = isolated_places["workspace"]
    ws.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / "rope.py", ws / "rope.py")
    res, doc = bench_json("rope")
    assert res.returncode == 0, res.stderr
    target = doc["targets"][0]
    assert target["error"] is None
    assert not [c for c in target["causes"] if c["code"] == "bench.python_loop"]


@pytest.mark.parametrize("exercise_id", catalog.ids())
def test_every_bench_spec_runs_on_its_model_answer(exercise_id):
    """graders/bench/ID.py builds inputs, calls the model answer at the quick
    size and traces it, as the learner's timing process does; the model answer
    makes no Python loop over any axis."""
    import random

    import torch

    from drillpe.data import bundle
    from drillpe.grading.bench_child import compare, fingerprint, python_work, trace_call
    from drillpe.grading.bench_specs import size_for, targets
    from drillpe.grading.loading import load_module

    answer = load_module(bundle.solution_path(exercise_id), f"bench_answer_{exercise_id}")
    cpu, f32 = torch.device("cpu"), torch.float32
    found = targets(exercise_id)
    assert found, f"graders/bench/{exercise_id}.py declares no TARGETS"
    for target in found:
        size = size_for(target, "cpu", quick=True)
        with torch.no_grad():
            x = target.inputs(size, cpu, f32, torch.Generator().manual_seed(0))
            target.prepare(answer, x, size)()
            trace = trace_call(target, answer, size, cpu, f32, 0, False)
            work = python_work(target, answer, cpu, f32, 0)
            if target.checked:  # the output depends on the inputs (and seeded weights) alone
                torch.manual_seed(1)
                first = fingerprint(target.prepare(answer, x, size)(), set(), random.Random(0))
                torch.manual_seed(2)
                assert compare(first, target.prepare(answer, x, size)(), "float32") is None, (
                    f"{target.call} gives other outputs on other random weights: seed them "
                    "(bench_specs.seed_parameters)")
        bench = TargetBench(name=target.name, call=target.call, size=size, learner=None,
                            reference={"median_s": 1.0}, trace=trace, python_work=work)
        assert "bench.python_loop" not in [c.code for c in explain(bench, "cpu")], work
    # every exercise has production code to race (`devtools check` requires it), and it
    # agrees with the model answer
    from drillpe import devtools

    assert bundle.fast_path(exercise_id).is_file(), f"graders/fast/{exercise_id}.py is missing"
    assert devtools.fast_differences(exercise_id) == []


def test_a_wrong_production_implementation_is_caught(monkeypatch):
    """`devtools check` compares graders/fast/ID.py with the model answer."""
    import types

    from drillpe import devtools
    from drillpe.grading import bench_child

    unrotated = types.SimpleNamespace(RoPE=lambda q, k: (q * 1.0, k * 1.0))
    monkeypatch.setattr(bench_child, "load_fast", lambda exercise_id: unrotated)
    found = devtools.fast_differences("rope")
    assert len(found) == 2 and "the reference has" in found[0], found


def test_a_wrong_production_module_with_random_weights_is_caught(monkeypatch):
    """A target that builds a module is compared too: both sides get the same
    weights (bench_specs.seed_parameters), so the difference left is the code's."""
    import types

    from drillpe import devtools
    from drillpe.grading import bench_child

    fast = bench_child.load_fast("learnable")

    class Twice(fast.TrainablePositionEncoding):  # adds the position rows twice
        def forward(self, x, offset=0):
            return super().forward(super().forward(x, offset), offset)

    monkeypatch.setattr(bench_child, "load_fast",
                        lambda exercise_id: types.SimpleNamespace(TrainablePositionEncoding=Twice))
    found = devtools.fast_differences("learnable")
    assert found and "float32: output 0:" in found[0], found


@pytest.mark.parametrize("style", ["embedding", "parameter"])
def test_a_table_under_a_name_of_its_own_gets_the_model_answers_weights(monkeypatch, style):
    """learnable's API leaves the table's name free; seeded by name, an honest
    nn.Embedding called wpe (or a Parameter called pos) got other weights than the
    model answer's table, and every checked timed call was refused as stale."""
    import types

    import torch

    from drillpe import devtools
    from drillpe.grading import bench_child

    class Renamed(torch.nn.Module):
        def __init__(self, max_sequence_length, d_model):
            super().__init__()
            self.max_sequence_length = max_sequence_length
            if style == "embedding":
                self.wpe = torch.nn.Embedding(max_sequence_length, d_model)
            else:
                self.pos = torch.nn.Parameter(torch.zeros(max_sequence_length, d_model))

        def forward(self, x, offset=0):
            rows = self.wpe.weight if style == "embedding" else self.pos
            return x + rows[offset:offset + x.shape[-2]].to(x.dtype)

    monkeypatch.setattr(bench_child, "load_fast",
                        lambda exercise_id: types.SimpleNamespace(TrainablePositionEncoding=Renamed))
    assert devtools.fast_differences("learnable") == []


def test_parameters_that_share_a_shape_are_matched_by_name_in_any_order(monkeypatch):
    """relative's two tables (and its projections) share a shape: they are seeded by
    name, so a module that registers them in another order gets the same weights."""
    import types

    from drillpe import devtools
    from drillpe.grading import bench_child

    fast = bench_child.load_fast("relative")

    class Reordered(fast.RelativeMultiHeadAttention):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            table, projections = self.relative_position_k, self.linears
            del self.relative_position_k, self.linears  # registered again: after v
            self.relative_position_k, self.linears = table, projections

    names = [name for name, _ in Reordered(8, 2).named_parameters()]
    assert names.index("relative_position_k.embeddings_table") > \
        names.index("relative_position_v.embeddings_table")
    monkeypatch.setattr(bench_child, "load_fast", lambda exercise_id: types.SimpleNamespace(
        RelativeMultiHeadAttention=Reordered, relative_index=fast.relative_index))
    assert devtools.fast_differences("relative") == []


def _production_sample(exercise_id, dtype, factor, shift, seed=0, leave_out=None, module=None,
                       quick=True):
    """What the learner's side would send for one timed call of drillpe's own
    production code (graders/fast/ID.py), or of ``module``, on the inputs (factor,
    shift) draw, at the --quick size or (``quick=False``) the default CPU one;
    ``leave_out``: parameters whose names contain it are zeroed (work left out)."""
    import random

    import torch

    from drillpe.grading import bench_child, bench_specs

    [target] = bench_specs.targets(exercise_id)
    size = bench_specs.size_for(target, "cpu", quick=quick)
    x = bench_child.rebuild(target, size, torch.device("cpu"), dtype, seed, factor, shift)
    seeded = len(bench_specs.SEEDED.made)
    call = target.prepare(module or bench_child.load_fast(exercise_id), x, size)
    with torch.no_grad():
        bench_child.refill_weights(seeded, factor, shift)
        if leave_out:
            module = next(cell.cell_contents for cell in call.__closure__
                          if isinstance(cell.cell_contents, torch.nn.Module))
            for name, param in module.named_parameters():
                if leave_out in name:
                    param.zero_()
        out = call()
    return {**bench_child.fingerprint(out, set(), random.Random(shift)), "factor": factor,
            "shift": shift}


def _relative_bench(quick=True):
    """What a bfloat16 bench of relative checks samples with: its target, the --quick or
    default CPU size, the model answer, the production code, and the bench's arguments."""
    import types

    from drillpe.grading import bench_child, bench_specs
    from drillpe.grading.common import load_solution

    [target] = bench_specs.targets("relative")
    return (target, bench_specs.size_for(target, "cpu", quick=quick), load_solution("relative"),
            bench_child.load_fast("relative"), types.SimpleNamespace(seed=0, dtype="bfloat16"))


def _relative_module(fast, attention):
    """A stand-in for a learner's relative module: ``attention`` as its
    RelativeMultiHeadAttention, the production code's index helper beside it."""
    import types

    return types.SimpleNamespace(RelativeMultiHeadAttention=attention,
                                 relative_index=fast.relative_index)


def test_the_production_codes_own_rounding_is_allowed_and_a_stale_output_is_not():
    """In bfloat16, relative's production code (softmax in float32, the rest in
    bfloat16) missed the bare tolerance on some of its checked calls: an honest copy
    of it was refused as stale. What the production code misses the model answer by,
    on the same inputs, is allowed (three times over); another call's output is not."""
    import torch

    from drillpe.grading import bench_child

    target, size, truth, fast, args = _relative_bench()
    cpu, dtype = torch.device("cpu"), torch.bfloat16
    draws = [(1.5 + 0.1 * n, 1009 * n + 7) for n in range(6)]
    samples = [_production_sample("relative", dtype, *draw) for draw in draws]

    def problem(sample, production):
        return bench_child._sample_problem(target, truth, sample, size, cpu, dtype, args,
                                           production)

    bare = [problem(sample, None) for sample in samples]
    assert any(bare), "the bare tolerance no longer refuses the production code here"
    assert [problem(sample, fast) for sample in samples] == [None] * len(samples)
    # an output of another call (another factor and shift), sent as this one's
    stale = {**samples[0], "factor": samples[1]["factor"], "shift": samples[1]["shift"]}
    assert problem(stale, fast) is not None
    # the value term left out, on the large values where the production code's own
    # misses are largest: most values miss by less than three times its worst, but
    # far more of them miss the tolerance than the production code's do
    found = [problem(_production_sample("relative", dtype, factor, 4242,
                                        leave_out="relative_position_v"), fast)
             for factor in (1.6, 1.8, 1.9, 2.0)]
    assert None not in found, found
    assert any("values checked are off by more than" in text for text in found), found


def test_work_left_out_on_the_largest_inputs_is_refused_though_the_production_code_is_rough():
    """helper-118's: relative in bfloat16 at the default CPU size, on the largest inputs
    (factors from 1.875), where the attention is most peaked and the production code's
    own rounding widest: the value term left out passed every checked call there, and
    the position term left out most. Each value is now held to the farthest the
    production code lands at that element, on the call's inputs and on inputs one
    rounding away (bench_child.REACH). Attention written the textbook way (the
    embeddings gathered per query, softmax in bfloat16) rounds differently from the
    production code, and still passes."""
    import math

    import torch

    from drillpe.grading import bench_child

    target, size, truth, fast, args = _relative_bench(quick=False)

    class Textbook(fast.RelativeMultiHeadAttention):
        def forward(self, query, key, value, mask=None):
            batch, length_q, _ = query.shape
            length_k = key.shape[1]
            heads, head_dim = self.n_heads, self.d_model // self.n_heads

            def split(x, length):
                return x.view(batch, length, heads, head_dim).transpose(1, 2)

            q = split(self.linears[0](query), length_q)
            k = split(self.linears[1](key), length_k)
            v = split(self.linears[2](value), length_k)
            a_k = self.relative_position_k(length_q, length_k)
            a_v = self.relative_position_v(length_q, length_k)
            logits = (q @ k.transpose(-1, -2) + torch.einsum("bhid,ijd->bhij", q, a_k)
                      ) / math.sqrt(head_dim)
            attn = torch.softmax(logits, dim=-1)
            z = attn @ v + torch.einsum("bhij,ijd->bhid", attn, a_v)
            return self.linears[3](z.transpose(1, 2).reshape(batch, length_q, self.d_model))

    textbook = _relative_module(fast, Textbook)
    cpu, bf16 = torch.device("cpu"), torch.bfloat16
    found = {}
    for n, factor in enumerate((1.875, 1.92, 1.96, 2.0)):
        shift = 104729 * n + 11
        # what _sample_problem does, the model answer and slack drawn once for three samples
        expected = bench_child.call_drawn(target, truth, size, cpu, bf16, args.seed, factor,
                                          shift)
        slack = bench_child.production_slack(target, fast, size, cpu, bf16, args.seed, factor,
                                             shift, expected)
        for name, kwargs in (("textbook", {"module": textbook}),
                             ("no value term", {"leave_out": "relative_position_v"}),
                             ("no position term", {"leave_out": "relative_position_k"})):
            sample = _production_sample("relative", bf16, factor, shift, quick=False, **kwargs)
            found.setdefault(name, []).append(bench_child.compare(sample, expected, args.dtype,
                                                                  slack))
    assert found["textbook"] == [None] * 4, found["textbook"]
    for name in ("no value term", "no position term"):
        assert None not in found[name], (name, found[name])
    # the old rules alone let most of these through: the new one is what refused them
    assert sum("times what drillpe's production code misses it by" in text
               for name in ("no value term", "no position term") for text in found[name]) >= 4, found


@pytest.mark.parametrize("exercise_id", catalog.ids())
def test_the_production_code_leaves_its_inputs_as_they_were(exercise_id):
    """production_slack builds a checked call's inputs once and hands them to the
    production code on every run (the call's own, then the dithered copies): a
    production call that wrote into them would change the runs after it."""
    import torch

    from drillpe.grading import bench_child, bench_specs

    fast, cpu = bench_child.load_fast(exercise_id), torch.device("cpu")
    checked = 0
    for target in bench_specs.targets(exercise_id):
        size = bench_specs.size_for(target, "cpu", quick=True)
        for dtype in (torch.float32, torch.bfloat16):
            x = bench_child.rebuild(target, size, cpu, dtype, 0, 1.5, 12345)
            before = {k: v.clone() for k, v in x.items() if isinstance(v, torch.Tensor)}
            checked += len(before)
            for dither in (None, 7):
                bench_child.call_drawn(target, fast, size, cpu, dtype, 0, 1.5, 12345, dither,
                                       inputs=x)
            assert [k for k, v in before.items() if not torch.equal(v, x[k])] == [], \
                (target.name, dtype)
    if not checked:
        pytest.skip("its calls take sizes only: no tensor the production code could write into")


def test_uniform_attention_on_the_smallest_inputs_is_refused(monkeypatch):
    """helper-113's: relative in bfloat16 with the attention taken as uniform (no
    logits, no softmax) on the calls of the smallest drawn inputs, where the logits
    are closest to equal. Against outputs of 0.2 at most, the bare 3e-2 absolute
    tolerance let it pass below a factor of 0.74 (and the draws went down to 0.5):
    the absolute term is scaled by the output's largest value under 1 now, and no
    factor is drawn under 0.75. The production code's own rounding still passes there."""
    import torch

    from drillpe.grading import bench_child

    target, size, truth, fast, args = _relative_bench()

    class Uniform(fast.RelativeMultiHeadAttention):
        def forward(self, query, key, value, mask=None):
            batch, length_q, _ = query.shape
            heads, head_dim = self.n_heads, self.d_model // self.n_heads
            v = self.linears[2](value).view(batch, -1, heads, head_dim)
            index = fast.relative_index(length_q, key.shape[1], self.max_relative_position,
                                        query.device)
            # each query's share of every table row: the a_v term under uniform weights
            share = torch.nn.functional.one_hot(index, self.relative_position_v
                                                .embeddings_table.shape[0]).float().mean(1)
            z = v.mean(1, keepdim=True) + (share.to(v.dtype) @ self.relative_position_v
                                           .embeddings_table)[None, :, None, :]
            return self.linears[3](z.reshape(batch, length_q, self.d_model))

    cheat = _relative_module(fast, Uniform)
    assert bench_child.SCALES[0] == 0.75
    # the bound alone refuses it below the draws too (0.6, 0.7: it passed there before)
    monkeypatch.setattr(bench_child, "SCALES", (0.6, 2.0))
    for n, factor in enumerate((0.6, 0.7, 0.75, 0.9)):
        shift = 7919 * n + 3
        for module, refused in ((cheat, True), (None, False)):
            sample = _production_sample("relative", torch.bfloat16, factor, shift, module=module)
            problem = bench_child._sample_problem(target, truth, sample, size,
                                                  torch.device("cpu"), torch.bfloat16, args,
                                                  fast)
            assert (problem is not None) == refused, (factor, module, problem)


def test_missing_learner_file_is_a_usage_error():
    res = run_cli("bench", "rope")
    assert res.returncode == 2
    assert "drillpe start rope" in res.stderr


def test_unknown_exercise_suggests():
    res = run_cli("bench", "rpoe")
    assert res.returncode == 2 and "Did you mean rope" in res.stderr


def test_cuda_unavailable_is_a_usage_error():
    import torch  # here, not through `drillpe doctor`: one process fewer

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    res = run_cli("bench", "rope", "--file", SLOW / "rope_fast.py", "--device", "cuda")
    assert res.returncode == 2 and "CUDA is not available" in res.stderr


# --------------------------------------------------------------------------- explain (no processes)


def _target(base_ops=40, grown=None, const=0.0, syncs=None, transfers=0, heads=None):
    return TargetBench(
        name="RoPE", call="RoPE(q, k)", size={"B": 1, "H": 8, "L": 2048, "D": 128},
        learner={"median_s": 2.0}, reference={"median_s": 1.0},
        trace={"ops": 9000, "written": 1000, "const_written": int(1000 * const),
               "syncs": syncs or {},
               "transfers": transfers, "const_top": ["sin", "cos"], "has_data_inputs": True},
        python_work={"base_ops": base_ops, "axes": {
            "L": {"meaning": "positions", "base": 32, "size": 64, "ops": grown or base_ops},
            "H": {"meaning": "heads", "base": 2, "size": 4, "ops": heads or base_ops}}})


def test_explain_recognises_each_cause():
    assert explain(_target(), "cpu") == []
    [loop] = explain(_target(grown=80), "cpu")
    assert loop.code == "bench.python_loop" and "positions" in loop.message
    assert "9000" in loop.message
    # loops over positions and over heads: one cause that names both (it came twice)
    [both] = explain(_target(grown=80, heads=90), "cpu")
    assert both.code == "bench.python_loop" and "positions and heads" in both.message
    assert "80 at L=64; 90 at H=4" in both.message and "L=2048, H=8" in both.message
    assert [c.code for c in explain(_target(const=0.5), "cpu")] == ["bench.table_rebuilt"]
    [sync] = explain(_target(syncs={"item": 3}), "cuda")
    assert sync.code == "bench.host_sync" and "3 host–device" in sync.message
    assert "would wait" in explain(_target(syncs={"item": 1}), "cpu")[0].message
    assert explain(_target(transfers=2), "cuda")[0].code == "bench.device_copy"


def test_a_kind_of_positions_far_slower_than_the_mix_is_named():
    """helper-142's and helper-143's files were slow on one pattern of positions alone
    (packed documents, runs resuming from their own starts, 2 x 2 tile order): over the
    mix of kinds they read 1.2-2x slower for code 6-15x slower there. Each side times
    calls of each kind one by one after its phases (bench_child.kind_times), and the
    kind far slower than production, and than the verdict, is named (advice only)."""
    from drillpe.launch.bench import POSITION_KINDS, _kind_times

    prod = [3e-3] * len(POSITION_KINDS)
    target = _target()  # 2x slower over the mix
    target.kind_times = _kind_times([3e-3, 3e-3, 3e-3, 3e-3, 24e-3], prod)
    [slow] = [c for c in explain(target, "cpu") if c.code == "bench.slow_kind"]
    assert POSITION_KINDS[4] in slow.message and "8× its time" in slow.message
    assert "2× over the mix" in slow.message
    for mine in ([5e-3] * 5, [3e-3, 3e-3, 3e-3, 3e-3, 5.9e-3]):  # even, or not 1.5x the 2x
        target.kind_times = _kind_times(mine, prod)
        assert "bench.slow_kind" not in [c.code for c in explain(target, "cpu")]
    # the learner's side's figures are untrusted JSON: anything but 5 positive floats
    for mine in (None, [1e-3] * 4, [1e-3, 1e-3, 1e-3, 1e-3, -1.0], [1e-3] * 4 + ["x"],
                 [1e-3] * 4 + [True], "fast"):
        assert _kind_times(mine, prod) is None, mine
    assert _kind_times(prod, None) is None


def test_an_output_that_is_not_contiguous_is_named():
    """A newcomer's t5_bias returned unfold's windows flipped, laid out heads-innermost
    (strides (8, 1, 8192, 8)), and read "1.16× faster" than the production code, whose
    output is contiguous: what the layout costs its reader was left out of the time."""
    import random

    import torch

    from drillpe.grading import bench_child
    from drillpe.launch.bench import _strided

    weights = torch.randn(9, 4)
    rows = weights[torch.randint(0, 9, (15,))].t().unfold(1, 8, 1)
    for out, strided in ((rows.flip(1), True), (rows.flip(1).contiguous(), False)):
        sample = bench_child.fingerprint(out, set(), random.Random(0))
        assert _strided([sample]) is strided
        target = _target()
        target.strided = _strided([sample])
        codes = [c.code for c in explain(target, "cpu")]
        assert codes == (["bench.output_layout"] if strided else []), codes
    assert _strided([{"tensors": "x"}, "y", {"tensors": [{"contiguous": 0}]}]) is False


def test_explain_ignores_small_growth():
    # one extra call when a dimension doubles (a shape check) is not a loop
    assert explain(_target(base_ops=40, grown=41), "cpu") == []
    assert isinstance(Cause("x", "y"), Cause)


# --------------------------------------------------------------------------- exploits


EXPLOITS = {
    "rope_patched_clock": "bench.clock_replaced",
    "rope_cache_data_ptr": "bench.stale_output",
    "rope_cache_id": "bench.stale_output",
    "rope_lazy_subclass": "bench.not_a_tensor",
    "rope_deferred_pair": "bench.not_a_tensor",  # a namedtuple subclass's __iter__ works
    "rope_gc_deferred": "bench.stale_output",  # a collection after the end mark works
    "rope_detach_attr": "bench.tampering",  # the output's own detach() works
    "rope_storage_class": "bench.tampering",  # its storage's class's data_ptr() works
    "rope_class_detach": "bench.tampering",  # Tensor.detach, set then deleted, works
    "rope_param_detach": "bench.tampering",  # Parameter.detach, set through an argument
    "rope_function_mode": "bench.tampering",  # a torch function mode left on after the calls
    "rope_random_index": "bench.tampering",  # random._index, which randrange called
    "rope_clone_kernel": "bench.tampering",  # a kernel of its own for aten::clone
    # a str subclass's __hash__, in random's namespace through Enum's functional API,
    # which the learner's process now refuses names other than plain ones: its file no
    # longer loads there (the seal's exact-str check: rope_planted_key, rope_modules_key)
    "rope_hash_key": "load",
    "rope_refill_mul": "bench.tampering",  # torch.mul, which the refill of inputs calls
    "rope_refill_warning": "bench.tampering",  # a shrunk input: the refill's warning
    "rope_cuda_device_enter": "bench.tampering",  # torch.cuda.device.__enter__, the sync's
    "rope_in_place_view": "bench.output_is_input",
    "rope_nan": "bench.stale_output",  # NaN passed every bound (a reviewer's)
    "rope_half_output": "bench.stale_output",  # float16 for float32: half the bytes
    "rope_scaled_cache": "bench.stale_output",  # c·x's output from x's: inputs are rolled too
    # (its import sets two threads: the calls run on the one set before it loaded, and
    # the OpenMP worker its warm-up started is one thread too many at the first check)
    "rope_sets_threads": "bench.tampering",
    "rope_reaches_exec": "bench.tampering",  # exec, then the timing code's frames
    "rope_swaps_timing_code": "bench.tampering",  # a function of the timing code replaced
    "rope_fixes_the_draw": "bench.tampering",  # random.Random.randrange replaced
    # the timing code's state through __main__ (seal.take compares all of it)
    "rope_main_torch_proxy": "bench.tampering",  # its module binding torch, a stand-in
    "rope_main_own_fill": "bench.tampering",  # its fill, and the dict it compared with
    "rope_sorted_hides": "bench.tampering",  # torch.mul, hidden by a replaced sorted
    "rope_used_emptied": "bench.tampering",  # torch.mul, the list of torch's names emptied
    "rope_takes_the_key": "bench.tampering",  # the marks' class, the tag's HMAC default
    "rope_thread_swap_fill": "bench.tampering",  # a thread swaps fill after the check
    "rope_py_dispatcher": "bench.tampering",  # the Python dispatcher left on, a mul kernel
    "rope_bdb_trace": "bench.tampering",  # a trace function, set through bdb
    "rope_cprofile_timer": "bench.tampering",  # a profile timer, set through cProfile
    "rope_fork": "bench.tampering",  # torch grown to make the check after E long
    "rope_gil_hold": "bench.tampering",  # the switch interval, for a GIL held after E
    # work left running on torch's pool (or, where a check comes before the pool's new
    # thread has its name, one thread too many)
    "rope_pool_busy": ("bench.work_elsewhere", "bench.tampering"),
    "rope_threads_in_call": "bench.tampering",  # two threads in each call, one after
    "rope_sched_idle": "bench.tampering",  # the timing thread made SCHED_IDLE
    "rope_child_process": "bench.tampering",  # a process started with no audit event
    # a function of the standard library's that drillpe's audit hooks call, replaced:
    # the calls' work done in the check after the end mark
    "rope_audit_fsdecode_clone": "bench.tampering",  # os.fsdecode
    "rope_audit_normpath": "bench.tampering",  # os.path.normpath, set through an argument
    # a str subclass planted beside re.Pattern, whose __eq__ the check's lookup ran
    "rope_planted_key": "bench.tampering",
    # a str subclass planted in sys.modules, whose __eq__ the seal's lookup of a
    # submodule the file added to drillpe ran
    "rope_modules_key": "bench.tampering",
    # properties on getrusage's result class, read after the end mark (and, with them,
    # torch.DispatchKeySet.__str__, which the check called there)
    "rope_rusage_prop": "bench.tampering",
    "rope_keyset_str": "bench.tampering",
    # a weakref.finalize on each output, whose callback runs when the outputs are let go
    # of: inside the next refill's marks, on the parent's clock
    "rope_release_finalizer": "bench.refill_work",
    # a storage's type() given "torch.__builtins__": getattr, then the marks' key
    "rope_storage_type_key": "bench.tampering",
}


@pytest.mark.parametrize("name", sorted(EXPLOITS))
def test_exploit_is_refused_by_the_bench_itself(name):
    """Grading refuses most of these first (tampering, changed inputs, a
    subclass); the bench must refuse them on its own too: measure() times
    without grading."""
    from drillpe.launch.bench import BenchFailed, BenchOptions, measure

    if EXPLOITS[name] == "load":  # refused as its file loads: no time at all
        with pytest.raises(BenchFailed, match="may not start with an underscore"):
            measure("rope", SLOW / f"{name}.py", BenchOptions(quick=True, budget_s=0.05))
        return
    report = measure("rope", SLOW / f"{name}.py", BenchOptions(quick=True, budget_s=0.05))
    [target] = report.targets
    assert target.error is None
    codes = [reason.split(":")[0] for reason in target.refused]
    expected = EXPLOITS[name] if isinstance(EXPLOITS[name], tuple) else (EXPLOITS[name],)
    found = [code for code in codes if code in expected]
    assert found, target.refused
    assert target.causes == []  # a refused timing gets no advice
    # refused from the learner's side alone: the production side is not timed then
    assert (target.reference == {}) == (found[0] in ON_ITS_OWN), target.reference
    if name == "rope_patched_clock":  # our clock, not the patched one, measured the phases
        assert target.learner["median_s"] > 1e-6
        assert target.learner["clock_agreement"] < 0.1


def test_a_signal_handler_of_the_learners_never_runs_in_the_timing_process():
    """A reviewer's SIGALRM handler did the timed calls' work in the refill of their
    inputs, where no clock runs, and another's was handed the frame it interrupted
    and took the key and the report's entries from it. The learner's code runs off
    the main thread there, where Python lets no code set a handler."""
    from drillpe.launch.bench import BenchFailed, BenchOptions, measure

    with pytest.raises(BenchFailed, match="signal only works in main thread"):
        measure("rope", SLOW / "rope_sigalrm_refill.py", BenchOptions(quick=True, budget_s=0.05))


def test_ctypes_reads_no_memory_in_the_timing_process():
    """A reviewer's read the key from the first environment block on the stack with
    ctypes.string_at (unsetting a variable leaves its text there)."""
    from drillpe.launch.bench import BenchFailed, BenchOptions, measure

    with pytest.raises(BenchFailed) as failed:
        measure("rope", SLOW / "rope_ctypes_stack_key.py", BenchOptions(quick=True, budget_s=0.05))
    assert "may not use ctypes" in str(failed.value) and "found key" not in str(failed.value)


def test_the_key_leaves_no_text_behind(monkeypatch):
    """Unsetting a variable leaves its text where it lay (a reviewer's read the key from
    the first environment block on the stack): take_key overwrites the C library's
    copy and Python's before it unsets it."""
    import ctypes

    from drillpe.grading.bench_child import take_key

    key = bytes(range(32))
    monkeypatch.setenv("DRILLPE_TEST_KEY", key.hex())
    python_copy = os.environb[b"DRILLPE_TEST_KEY"]
    getenv = ctypes.CDLL(None).getenv
    getenv.argtypes, getenv.restype = [ctypes.c_char_p], ctypes.c_void_p
    c_copy = getenv(b"DRILLPE_TEST_KEY")
    assert take_key("DRILLPE_TEST_KEY") == key
    assert "DRILLPE_TEST_KEY" not in os.environ and getenv(b"DRILLPE_TEST_KEY") is None
    assert python_copy == b"0" * 64 and ctypes.string_at(c_copy, 64) == b"0" * 64
    assert take_key("DRILLPE_TEST_KEY") == b""


def test_no_frame_of_the_timing_process_shows_the_key():
    """traceback's summaries, which the timing process allows, show the repr of every
    frame's locals with capture_locals: a reviewer's read the key there. The fixture
    raises if it sees 32 bytes in any local (and if it sees no locals at all)."""
    from drillpe.launch.bench import BenchOptions, measure

    report = measure("rope", SLOW / "rope_walk_stack_key.py",
                     BenchOptions(quick=True, budget_s=0.05))
    [target] = report.targets
    assert target.error is None and target.learner is not None, target.error


def test_a_tensor_whose_own_attribute_hides_a_method_is_not_used():
    """The timing code calls methods of the inputs it fills and the outputs it checks:
    an attribute of the tensor's own (or its storage's) of a method's name would run
    the learner's code there (rope_detach_attr.py), and so would a class of its own."""
    import torch

    from drillpe.grading.bench_child import Tampered, plain_tensor

    t = torch.zeros(4)
    plain_tensor(t, "an output")
    # an output's tag of a plain value runs nothing (an honest answer's was refused as
    # tampering); drillpe's own inputs carry none
    t.rope_applied, t.pairs, t.scale, t.note = True, "interleaved", 0.5, None
    plain_tensor(t, "an output", tags=True)
    with pytest.raises(Tampered, match="the input q has an attribute of its own, rope_applied"):
        plain_tensor(t, "the input q")
    for value in ([], iter(()), (x for x in ())):  # objects: freed with the tensor, and a
        t.label = value  # finaliser (a generator's `finally`) would run then
        with pytest.raises(Tampered, match="an output has an attribute of its own, label"):
            plain_tensor(t, "an output", tags=True)

    class Count(int):  # a plain value's subclass: code of its own
        pass

    t.label = Count(1)
    with pytest.raises(Tampered, match="an output has an attribute of its own, label"):
        plain_tensor(t, "an output", tags=True)
    del t.label
    u = torch.zeros(4)
    u.untyped_storage().label = [1]
    with pytest.raises(Tampered, match="storage's label"):
        plain_tensor(u, "an output", tags=True)
    t.detach = lambda: t
    with pytest.raises(Tampered, match="an output has an attribute of its own, detach"):
        plain_tensor(t, "an output")
    u = torch.zeros(4)
    u.untyped_storage().resizable = lambda: True  # the storage object keeps it
    with pytest.raises(Tampered, match="storage's resizable"):
        plain_tensor(u[1:], "the input q")  # a view: the same storage

    class Mine(torch.Tensor):
        pass

    with pytest.raises(Tampered, match="is a Mine"):
        plain_tensor(torch.zeros(2).as_subclass(Mine), "the input q")

    class Kept(torch.UntypedStorage):
        pass

    w = torch.zeros(4)
    w.untyped_storage().__class__ = Kept  # the storage object keeps it, as its attributes
    with pytest.raises(Tampered, match="an output's storage is a Kept"):
        plain_tensor(w, "an output")

    class Name(str):  # looking it up would call these (rope_hash_key.py)
        armed = False

        def __hash__(self):
            assert not Name.armed, "hashed"
            return str.__hash__(self)

        def __eq__(self, other):
            assert not Name.armed, "compared"
            return str.__eq__(self, other)

    v = torch.zeros(4)
    vars(v)[Name("label")] = 1
    Name.armed = True
    with pytest.raises(Tampered, match="an attribute whose name is not a plain str"):
        plain_tensor(v, "an output")


def test_a_cache_that_passes_grading_is_refused_through_the_cli(capfd, warm_grades):
    """The command's words and exit code (in this process: its grade goes to the warm
    workers, its timed run starts its own two processes, as for a user)."""
    res = cli_run(capfd, "bench", "rope", "--file", SLOW / "rope_cache_id.py", "--quick")
    assert res.returncode == 1, res.stderr
    assert "Refused" in res.stdout and "bench.stale_output" in res.stdout
    assert "cache keyed on the input's id or data_ptr" in " ".join(res.stdout.split())
    assert "median" not in res.stdout  # no time is reported for it
    assert "refused to report a time" in res.stderr


# --------------------------------------------------------------------------- the clocks (no processes)


def _run(own, calls=10):
    return {"phases": [{"calls": calls, "own_s": t} for t in own], "calls_per_phase": calls}


def _pairs(durations):
    out, now = [], 0
    for d in durations:
        out.append((now, now + int(d * 1e9)))
        now += int(d * 1e9) + 1000
    return out


def test_a_phase_counts_for_the_longer_clock():
    from drillpe.launch.bench import summarise

    honest = summarise(_run([0.10] * 6), _pairs([0.1005] * 6))
    assert honest["clock"] == "parent" and honest["clock_disagreements"] == 0
    assert abs(honest["median_s"] - 0.01005) < 1e-9
    lying = summarise(_run([0.001] * 6), _pairs([0.1] * 6))  # the child's clock ran slow
    assert lying["median_s"] == pytest.approx(0.01) and lying["clock_disagreements"] == 6
    late = summarise(_run([0.1] * 6), _pairs([0.05] * 6))  # our reader was late for a mark
    assert late["median_s"] == pytest.approx(0.01) and late["clock_disagreements"] == 0
    # a few ms of pipe latency on short phases is not a lie
    short = summarise(_run([0.0001] * 6), _pairs([0.002] * 6))
    assert short["clock_disagreements"] == 0
    # nor tens of ms when drillpe waits for a core on a loaded machine
    assert summarise(_run([0.0003] * 6), _pairs([0.03] * 6))["clock_disagreements"] == 0
    assert summarise(_run([0.1] * 3), None)["clock"] == "child"


def test_marks_from_elsewhere_break_the_pairing():
    from drillpe.launch.bench import pair_marks, split_pairs

    good = [(1, ord("B")), (5, ord("E")), (6, ord("B")), (9, ord("E"))]
    assert pair_marks(good) == [(1, 5), (6, 9)]
    assert pair_marks(good[:3]) is None
    assert pair_marks([(1, ord("E")), (2, ord("B"))]) is None
    # a checked phase: its read (C…D), then the same read of drillpe's copy (F…G)
    read = [(10, ord("C")), (14, ord("D")), (15, ord("F")), (16, ord("G"))]
    # (start, end, read, end mark to read, read again)
    assert pair_marks(good[:2] + read + good[2:]) == [(1, 5, 4, 5, 1), (6, 9)]
    for broken in (read + good, good[:2] + read[:2] + good[2:], good[:2] + read[2:] + read[:2],
                   good[:2] + read + read):
        assert pair_marks(broken) is None
    entry = {"marks": [0, 4], "timing": _run([0.1]), "copy": _run([0.1]),
             "order": ["copy", "timing"]}  # the runs take turns: dealt in their order
    pairs, problem = split_pairs(entry, good, ["timing", "copy"])
    assert problem is None and pairs == {"timing": [(6, 9)], "copy": [(1, 5)]}
    extra = good + [(10, ord("B")), (11, ord("E"))]  # two more marks than phases
    entry = {"marks": [0, 6], "timing": _run([0.1, 0.1]), "order": ["timing"] * 2}
    _, problem = split_pairs(entry, extra, ["timing"])
    assert "something else wrote on the timing channel" in problem
    _, problem = split_pairs({"timing": _run([0.1])}, good, ["timing"])
    assert problem
    _, problem = split_pairs({"marks": [0, 4], "timing": _run([0.1, 0.1]), "order": ["timing"]},
                             good, ["timing"])
    assert "disagree" in problem


def test_each_phases_refill_is_marked_and_dealt_to_its_run():
    from drillpe.launch.bench import pair_marks, split_pairs

    marks = [(0, ord("R")), (3, ord("S")), (4, ord("B")), (8, ord("E")),
             (9, ord("R")), (10, ord("S")), (11, ord("B")), (12, ord("E"))]
    refills: list = []
    assert pair_marks(marks, refills) == [(4, 8), (11, 12)] and refills == [3, 1]
    assert pair_marks(marks[:2]) is None  # a refill with no phase after it
    assert pair_marks(marks[:2] + [(5, ord("C")), (6, ord("D"))] + marks[2:]) is None
    entry = {"marks": [0, 8], "timing": _run([0.1]), "copy": _run([0.1]),
             "order": ["timing", "copy"]}
    dealt: dict = {}
    pairs, problem = split_pairs(entry, marks, ["timing", "copy"], dealt)
    assert problem is None and dealt == {"timing": [3], "copy": [1]}


def test_the_time_from_the_end_mark_to_the_read_counts_beyond_the_guards_cost():
    """A reviewer's code held the GIL from the end mark to the read of the outputs
    while work it had left on torch's inter-op pool finished (1.8 ms a call, no
    refusal, for 14 ms of maths). That window is the guard's: beyond twice what the
    guard took before the learner's file loaded (K…L), plus a slack, it is the
    phase's, and where most phases need it the time is refused."""
    from drillpe.launch.bench import (
        AFTER_END_CPU_RATIO,
        AFTER_END_SLACK_S,
        after_end_allowance,
        pair_marks,
        refusals,
        summarise,
    )

    preload = [(0, ord("K")), (2_000_000, ord("L")), (3_000_000, ord("K")),
               (5_000_000, ord("L")), (6_000_000, ord("K")), (6_000_000, ord("L"))]
    allowed = after_end_allowance(preload)  # the median, 2 ms (marks read late come at once)
    assert allowed == int(2 * 2_000_000 + AFTER_END_SLACK_S * 1e9)
    assert after_end_allowance(preload[:4]) == int(AFTER_END_SLACK_S * 1e9)  # none: slack
    assert after_end_allowance(None) == int(AFTER_END_SLACK_S * 1e9)
    # the child's own timing of it, where our reader took the marks late, together
    bunched = [(0, ord("K")), (0, ord("L"))] * 3
    assert after_end_allowance(bunched, 0.002) == allowed
    assert after_end_allowance(bunched, "2") == after_end_allowance(bunched, 10.0) \
        == int(AFTER_END_SLACK_S * 1e9)  # not a number, or more than a check can take

    def phase(at, after_end):  # a 1 ms phase of one call, then its guard, then its reads
        end = at + 1_000_000
        return [(at, ord("B")), (end, ord("E")), (end + after_end, ord("C")),
                (end + after_end + 100_000, ord("D")), (end + after_end + 200_000, ord("F")),
                (end + after_end + 300_000, ord("G"))]

    run = _run([0.001] * 4, calls=1)
    honest = pair_marks([m for n in range(4) for m in phase(n * 10**8, 3_000_000)])
    mine = summarise(run, honest, after_end_ns=allowed)
    assert mine["median_s"] == pytest.approx(0.001) and mine["stalled_phases"] == 0
    assert mine["after_end_s"] == pytest.approx(0.003)
    stalled = pair_marks([m for n in range(4) for m in phase(n * 10**8, 52_000_000)])
    mine = summarise(run, stalled, after_end_ns=allowed)
    assert mine["median_s"] == pytest.approx(0.001 + 0.052 - allowed / 1e9)
    assert mine["stalled_phases"] == 4
    assert summarise(run, stalled)["median_s"] == pytest.approx(0.001)  # the reference's
    # our reader late for the E mark, so that E and C came together: the child's clock
    bunched = {"phases": [dict(p, after_end_s=0.052) for p in run["phases"]],
               "calls_per_phase": 1}
    assert summarise(bunched, honest, after_end_ns=allowed)["stalled_phases"] == 4
    # a long window where the timing thread never waited: a loaded machine took its core
    busy = {"phases": [dict(p, after_end_waits=0) for p in run["phases"]],
            "calls_per_phase": 1}
    assert summarise(busy, stalled, after_end_ns=allowed)["stalled_phases"] == 0
    waited = {"phases": [dict(p, after_end_waits=1) for p in run["phases"]],
              "calls_per_phase": 1}
    assert summarise(waited, stalled, after_end_ns=allowed)["stalled_phases"] == 4
    # no wait, but the timing thread itself worked there, over AFTER_END_CPU_RATIO times
    # the allowance: counted, the CPU beyond the allowance (a loaded machine adds wall
    # time, not CPU time)
    worked = {"phases": [dict(p, after_end_waits=0, after_end_cpu_s=0.040)
                         for p in run["phases"]], "calls_per_phase": 1}
    mine_worked = summarise(worked, stalled, after_end_ns=allowed)
    assert mine_worked["stalled_phases"] == 4
    assert mine_worked["median_s"] == pytest.approx(0.001 + 0.040 - allowed / 1e9)
    # up to that ratio it does not (the kernel's work for the check's reads of /proc)
    for share in (0.5, 1.5, AFTER_END_CPU_RATIO * 0.99):
        honest_cpu = {"phases": [dict(p, after_end_waits=0, after_end_cpu_s=share * allowed / 1e9)
                                 for p in run["phases"]], "calls_per_phase": 1}
        assert summarise(honest_cpu, stalled, after_end_ns=allowed)["stalled_phases"] == 0
    assert summarise({"phases": [dict(p, after_end_cpu_s="0.04") for p in busy["phases"]],
                      "calls_per_phase": 1}, stalled, after_end_ns=allowed)["stalled_phases"] == 0
    target = _timed(mine["median_s"])
    target.learner = mine
    why = refusals(target, {}, {}, [], None)
    assert why and why[0].startswith("bench.stalled_after_calls"), why
    assert "52 ms" in why[0] and "inter-op pool" in why[0]
    target.learner = summarise(run, honest, after_end_ns=allowed)
    assert not any(w.startswith("bench.stalled") for w in refusals(target, {}, {}, [], None))


@pytest.mark.parametrize("mine, base, refused", [
    (0.11e-3, 0.09e-3, False),  # an honest refill: the same fill per byte as the copy's
    (1.0e-3, 0.1e-3, True),  # ten times the copy's per byte (a reviewer's Python kernel)
    (0.4e-3, 0.1e-3, False),  # under three times the copy's, and the slack a phase has
])
def test_a_refill_slower_than_the_copys_per_byte_is_refused(mine, base, refused):
    from drillpe.launch.bench import refusals

    target = _timed(2e-3, refill_s_per_mb=mine)
    target.learner_copy = {"median_s": 1.5e-3, "refill_s_per_mb": base}
    why = refusals(target, {"timing": {"refill_bytes": 16_000_000}}, {}, [], None)
    assert any(w.startswith("bench.refill_work") for w in why) == refused, why
    target.learner_copy = None  # no copy bounds the call: the production code's refill
    target.reference["refill_s_per_mb"] = base
    why = refusals(target, {"timing": {"refill_bytes": 16_000_000}}, {}, [], None)
    assert any(w.startswith("bench.refill_work") for w in why) == refused, why


def test_work_done_in_the_refill_is_on_the_parents_clock():
    """Reviewers' code did the timed calls' work in the refill of their inputs, where
    no clock ran: through a replaced fill, a signal handler, a thread, a Python kernel
    for the mul it runs, a trace function. The refill now runs between marks of its
    own, whatever runs in it: here 0.1 s of work per refill of the timed run's slots."""
    import random
    import time

    import torch

    from drillpe.grading import bench_child
    from drillpe.grading.bench_specs import Target
    from drillpe.launch.bench import refill_rate, split_pairs

    target = Target(name="t", call="t(x)", sizes={}, trace_size={}, axes={},
                    inputs=lambda s, device, dtype, gen: {"x": torch.zeros(250_000)},
                    data_inputs=("x",), prepare=lambda mod, x, s: lambda: x["x"] * 2)
    cpu = torch.device("cpu")
    runs = []
    for name in ("timing", "copy"):  # two slots each: the same fill
        slots = bench_child.Slots(target, None, {}, cpu, torch.float32, 0, count=2)
        runs.append(bench_child.Run(name, slots, cpu, 0.001))
    refill = runs[0].slots.refresh
    runs[0].slots.refresh = lambda rng: (refill(rng), time.sleep(0.1))

    class Stamped(bench_child.Marks):
        def __call__(self, byte):
            stamped.append((time.perf_counter_ns(), byte[0]))
            super().__call__(byte)

    stamped: list = []
    order = bench_child.run_phases(runs, cpu, 0.001, Stamped(None), random.Random(0))
    entry = {"marks": [0, len(stamped)], "order": order,
             **{run.name: run.result() for run in runs}}
    refills: dict = {}
    _, problem = split_pairs(entry, stamped, ["timing", "copy"], refills)
    assert problem is None
    mine, copy = (statistics.median(refills[name]) / 1e9 for name in ("timing", "copy"))
    assert mine >= 0.1 and mine - copy > 0.05, (mine, copy)  # the same fill, and the work
    assert refill_rate(entry["timing"], refills["timing"]) > \
        refill_rate(entry["copy"], refills["copy"])


WORK_40_MS = 2_500_000  # steps of an empty loop in a function: about 40 ms of CPU here


@pytest.mark.parametrize("stall", ["waits", "works"])
def test_a_stall_after_the_end_mark_is_on_the_parents_clock(stall):
    """A reviewer's code held the GIL from the end mark to the read of the outputs
    (the guard's window) while its work finished elsewhere; another's did the work in
    the timing thread itself, in a function drillpe's audit hooks called at the files
    the guard opens. Here the guard itself takes 50 ms after each phase, asleep or
    working, against nothing before the file loads: every phase's time takes in the
    stall beyond the allowance, and the time is refused."""
    import random
    import time

    import torch

    from drillpe.grading import bench_child
    from drillpe.grading.bench_specs import Target
    from drillpe.launch.bench import after_end_allowance, refusals, split_pairs, summarise

    target = Target(name="t", call="t(x)", sizes={}, trace_size={}, axes={},
                    inputs=lambda s, device, dtype, gen: {"x": torch.zeros(1000)},
                    data_inputs=("x",), prepare=lambda mod, x, s: lambda: x["x"] * 2)
    cpu = torch.device("cpu")
    slots = bench_child.Slots(target, None, {}, cpu, torch.float32, 0, count=2)
    run = bench_child.Run("timing", slots, cpu, 0.001, on_checked=lambda *args: None)

    class Stamped(bench_child.Marks):
        def __call__(self, byte):
            stamped.append((time.perf_counter_ns(), byte[0]))
            super().__call__(byte)

    stamped: list = []
    marks = Stamped(None)
    for _ in range(3):  # the guard's cost before the file loads: nothing
        marks(b"K")
        marks(b"L")
    first = len(stamped)

    def guard():
        if stall == "waits":
            time.sleep(0.05)
            return
        for _ in range(WORK_40_MS):  # work, not a time: a loaded machine stretches it
            pass

    order = bench_child.run_phases([run], cpu, 0.001, marks, random.Random(0), guard=guard)
    entry = {"marks": [first, len(stamped)], "order": order, "timing": run.result()}
    pairs, problem = split_pairs(entry, stamped, ["timing"])
    assert problem is None
    allowed = after_end_allowance(stamped)
    mine = summarise(entry["timing"], pairs["timing"], after_end_ns=allowed)
    assert mine["stalled_phases"] == mine["phases"] >= 5
    if stall == "works":  # found by the thread's CPU time there, with no wait
        phases = entry["timing"]["phases"]
        assert all(p["after_end_cpu_s"] >= 0.02 for p in phases)
        blind = {**entry["timing"], "phases": [dict(p, after_end_waits=0, after_end_cpu_s=None)
                                               for p in phases]}
        assert summarise(blind, pairs["timing"], after_end_ns=allowed)["stalled_phases"] == 0
    assert mine["after_end_s"] >= (0.05 if stall == "waits" else 0.02)
    # the stall beyond the allowance: on the wall where the thread slept, its CPU time
    # where it worked
    assert mine["median_s"] * run.calls >= (0.05 if stall == "waits" else 0.02) - allowed / 1e9
    assert summarise(entry["timing"], pairs["timing"])["median_s"] * run.calls < 0.04
    target = _timed(mine["median_s"])
    target.learner = mine
    assert refusals(target, {}, {}, [], None)[0].startswith("bench.stalled_after_calls")


def test_a_warm_up_that_sleeps_does_not_make_a_phase_one_call():
    """The calls a phase makes come from the warm-up's second call: a reviewer's slept
    there, so that every phase was one call, and each phase's untimed windows were that
    call's alone. A first phase whose calls run far faster than the warm-up said sets
    the calls of the phases after it."""
    import random
    import time

    import torch

    from drillpe.grading import bench_child
    from drillpe.grading.bench_specs import Target

    made = [0]

    def prepare(mod, x, s):
        def call():
            made[0] += 1
            if made[0] <= 2:  # the warm-up
                time.sleep(0.06)
            return x["x"] * 2
        return call

    target = Target(name="t", call="t(x)", sizes={}, trace_size={}, axes={},
                    inputs=lambda s, device, dtype, gen: {"x": torch.zeros(10_000)},
                    data_inputs=("x",), prepare=prepare)
    cpu = torch.device("cpu")
    slots = bench_child.Slots(target, None, {}, cpu, torch.float32, 0, count=16)
    run = bench_child.Run("timing", slots, cpu, 0.05)
    assert run.calls == 1
    bench_child.run_phases([run], cpu, 0.05, bench_child.Marks(None), random.Random(0))
    calls = [phase["calls"] for phase in run.phases]
    assert calls[0] == 1 and set(calls[1:]) == {16} and run.calls == 16, calls
    assert len(slots.fns) == 16  # the slots it uses, all refilled from the first phase on


def test_two_python_threads_joined_in_each_call_are_refused():
    """rope_threads_joined.py (a reviewer's: 7.9-8.4 ms a call for 14.4-15.8 ms of maths on
    one core, no refusal) at the CPU sizes: at --quick sizes its second thread's share of
    a phase can fall under the slack on a loaded machine."""
    from drillpe.launch.bench import BenchOptions, measure

    report = measure("rope", SLOW / "rope_threads_joined.py",
                     BenchOptions(quick=False, budget_s=0.2))
    [target] = report.targets
    assert target.error is None
    assert [r.split(":")[0] for r in target.refused][:1] == ["bench.threads_changed"], \
        target.refused


def test_a_thread_that_ends_while_the_guard_counts_is_skipped(monkeypatch):
    """A thread may end between the guard's open of its /proc file and the read, which
    then fails with ESRCH: an honest table built in each call lost its bench to that
    ("ProcessLookupError") once in a run of the suite."""
    import os

    from drillpe.grading import bench_child

    real, failed = bench_child._READ, []

    def read(fd, size):
        if not failed:  # the first thread's file: it ended after the open
            failed.append(fd)
            raise ProcessLookupError(3, "No such process")
        return real(fd, size)

    threads = len(os.listdir("/proc/self/task"))
    fds = len(os.listdir("/proc/self/fd"))
    children = bench_child._processes(False)
    monkeypatch.setattr(bench_child, "_READ", read)
    assert sum(bench_child._tasks()) == threads - 1
    failed.clear()
    # the children of the threads whose files were read (this pytest process may have
    # warm workers of its own)
    assert bench_child._processes(False) <= children
    assert len(failed) == 1 and len(os.listdir("/proc/self/fd")) == fds  # each fd closed


def test_other_threads_working_in_the_calls_beyond_the_set_count_is_refused():
    """A reviewer's calls each ran two Python threads, started and joined in the call
    (never alive at a check): two cores where the production code gets one. What the
    process's other threads work in the calls may be OpenMP's workers of the count
    drillpe set, a phase's time each, and no more."""
    from drillpe.launch.bench import _spread_phases, refusals

    def mine(inside):
        return {"timing": {"phases": [{"calls": 2, "own_s": 0.02, "others_in_s": inside}] * 6}}

    assert _spread_phases(mine(0.0), 1) == 0
    assert _spread_phases(mine(0.018), 1) == 6  # one more core, busy most of the calls
    assert _spread_phases(mine(0.018), 2) == 0  # OpenMP's second thread, with --threads 2
    assert _spread_phases(mine(0.045), 2) == 6
    assert _spread_phases(mine("x"), 1) == 0 and _spread_phases(mine(0.018), None) == 0
    why = refusals(_timed(2e-3), mine(0.018), {}, [], None, (1, 1))
    assert why and why[0].startswith("bench.threads_changed"), why


def _timed(learner_s, copy_s=1e-3, **learner):
    return TargetBench(name="RoPE", call="RoPE(q, k)", size={}, bytes_moved=16_000_000,
                       learner={"median_s": learner_s, "phases": 6, **learner},
                       reference={"median_s": 2e-3}, copy={"median_s": copy_s})


def test_the_gap_says_how_much_the_passes_over_memory_explain():
    """Four passes over memory allow a quarter of the roofline: a side that reaches
    far less spends the rest elsewhere, and the bench says how much."""
    from drillpe.render.tool_views import _gap

    def gap(learner_s, reference_s, mine, best):
        target = _timed(learner_s, copy_s=1e-3)
        target.reference = {"median_s": reference_s}
        target.trace = {"out_bytes": 100, "written_bytes": 100 * mine}
        target.reference_trace = {"out_bytes": 100, "written_bytes": 100 * best}
        return " ".join(_gap(target))

    explained = gap(4e-3, 1e-3, 4, 1)  # 25%: what four passes allow
    assert "memory, not arithmetic, sets the time" in explained and "allows" not in explained
    assert "production code's own" not in explained  # at the roofline
    short = gap(1e-2, 1e-3, 4, 1)
    assert "Writing 4.0× allows about 25% of the roofline at most, and yours reaches 10.0%" \
        in short
    assert "arithmetic, each call's own work" in short and "not arithmetic" not in short
    production = gap(4e-3, 5e-3, 4, 2.5)  # 20% where 2.5 passes allow 40%
    assert "own 80% gap" in production and "2.5 passes where a fused kernel" in production
    assert "2.5 passes allow about 40%, and the rest goes to" in production
    assert "allow" not in gap(4e-3, 2.6e-3, 4, 2.5)  # 38%: the passes explain it


def test_refusals_name_their_reason():
    from drillpe.launch.bench import refusals

    assert refusals(_timed(2e-3), {}, {}, [], None) == []
    [fast] = refusals(_timed(1e-4), {}, {}, [], None)
    assert fast.startswith("bench.faster_than_copy") and "10.0× faster" in fast
    assert refusals(_timed(4e-4), {}, {}, [], None) == []  # 2.5×: caches, allocation, load
    [clock] = refusals(_timed(2e-3, clock_agreement=0.01, clock_disagreements=6), {}, {}, [],
                       None)
    assert clock.startswith("bench.clock_disagrees") and "6 of 6 phases" in clock
    [names] = refusals(_timed(2e-3), {}, {}, ["perf_counter"], None)
    assert "time.perf_counter" in names
    [stale] = refusals(_timed(2e-3), {}, {"checks": [{"phase": 3, "mismatch": "output 0: x"},
                                                     {"phase": 4, "mismatch": None}]}, [], None)
    assert stale.startswith("bench.stale_output: 1 of 2") and "phase 3" in stale
    assert "Every checked call differs" not in stale
    [every] = refusals(_timed(2e-3), {}, {"checks": [{"phase": 3, "mismatch": "output 0: x"}]},
                       [], None)
    assert "Every checked call differs" in every  # a different result, not only a cache
    [foreign] = refusals(_timed(2e-3), {"samples": [{"phase": 2, "foreign": True}]}, {}, [],
                         None)
    assert foreign.startswith("bench.foreign_memory") and "torch.from_numpy" in foreign
    [lazy] = refusals(_timed(2e-3), {"samples": [{"problem": "lazy", "type": "Later"}]}, {}, [],
                      None)
    assert lazy.startswith("bench.not_a_tensor") and "Later" in lazy
    [channel] = refusals(_timed(2e-3), {}, {}, [], "seven marks")
    assert channel.startswith("bench.timing_channel")
    # the bound is the copy beside the learner's code, in its process: the same copy in
    # the reference's process ran up to 4x slower on one machine, and an honest model
    # answer was refused against it
    beside = _timed(2e-4, copy_s=1e-3)
    beside.learner_copy = {"median_s": 3e-4}
    assert refusals(beside, {}, {}, [], None) == []
    beside.learner_copy = {"median_s": 1e-3}
    [fast] = refusals(beside, {}, {}, [], None)
    assert fast.startswith("bench.faster_than_copy") and "5.0× faster" in fast
    [threads] = refusals(_timed(2e-3), {}, {}, [], None, (2, 1))
    assert threads.startswith("bench.threads_changed") and "2 threads" in threads
    # reading the checked outputs against the same read of drillpe's copy of them
    [deferred] = refusals(_timed(2e-3, read_s=0.03, read_copy_s=0.003, reads=6), {}, {}, [],
                          None)
    assert deferred.startswith("bench.deferred_work") and "over 6 phases" in deferred
    assert refusals(_timed(2e-3, read_s=0.008, read_copy_s=0.003, reads=6), {}, {}, [],
                    None) == []  # a cold read of memory against a warm one
    assert refusals(_timed(2e-3, read_s=9e-4, read_copy_s=1e-5, reads=6), {}, {}, [],
                    None) == []  # under a millisecond: the marks' own latency


def test_a_learner_timing_with_unusable_numbers_is_refused_not_a_crash():
    from drillpe.launch.bench import assemble

    ref = {"name": "RoPE", "call": "RoPE(q, k)", "size": {}, "marks": [0, 0], "order": [],
           "timing": {"phases": [{"calls": 1, "own_s": 1e-3}]}}
    for phase in ({"calls": 10**400, "own_s": 1.0}, {"calls": 5, "own_s": float("nan")},
                  {"calls": 5, "own_s": 1e300}, {"calls": 2.5, "own_s": 1.0}):
        mine = {"timing": {"phases": [phase]}, "marks": [0, 0], "order": ["timing"]}
        target = assemble(mine, ref, None, None, [], "cpu")
        assert [r.split(":")[0] for r in target.refused] == ["bench.timing_channel"], phase


def test_fingerprints_catch_stale_lazy_and_aliased_outputs():
    import random

    import torch

    from drillpe.grading.bench_child import compare, fingerprint

    rng = random.Random(0)
    x = torch.randn(4, 8, 16)
    right = x * 2
    assert compare(fingerprint(right, set(), rng), x * 2, "float32") is None
    stale = fingerprint(x * 1.5, set(), rng)  # computed from another call's values
    assert "the reference has" in compare(stale, x * 2, "float32")
    nan = fingerprint(torch.full_like(x, float("nan")), set(), rng)
    assert "nan at flat index" in compare(nan, x * 2, "float32")
    assert "dtype float16" in compare(fingerprint(right.half(), set(), rng), right, "float32")
    assert "tensors where" in compare(fingerprint((right,), set(), rng), (right, right),
                                      "float32")
    assert "shape" in compare(fingerprint(right[:2], set(), rng), right, "float32")

    class Later(torch.Tensor):
        pass

    assert fingerprint(right.as_subclass(Later), set(), rng) == {"problem": "lazy",
                                                                 "type": "Later"}
    storages = {x.untyped_storage().data_ptr()}
    assert fingerprint(x[..., :4], storages, rng) == {"problem": "aliases_input"}
    assert "problem" not in fingerprint(x.clone(), storages, rng)


def test_the_compiled_reference_uses_a_cache_of_its_own(tmp_path, monkeypatch):
    """torch.compile's cache defaults to /tmp/torchinductor_USER, which any local user
    may create first: a reviewer as another user planted code there that ran in this
    user's reference bench. The reference child gets a cache inside the bench's
    private folder."""
    from drillpe.launch import bench, processes

    seen = {}

    def spawn(argv, **kwargs):
        seen.update(kwargs["env"])
        raise RuntimeError("stop here")

    monkeypatch.setattr(processes, "spawn", spawn)
    with pytest.raises(RuntimeError, match="stop here"):
        bench._run_reference("rope", bench.BenchOptions(compile=True), tmp_path, {})
    assert seen["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "inductor")


def test_a_report_the_timing_code_did_not_sign_is_refused():
    """A reviewer's file wrote the bench's report and phase marks itself, at import,
    and any timing it liked was shown (198% of the copy roofline). The timing code
    signs both with a key it takes before the learner's code loads."""
    from drillpe.launch.bench import BenchFailed, BenchOptions, measure

    with pytest.raises(BenchFailed, match="bench.timing_channel: the timing report did not "
                                          "come from drillpe's timing code"):
        measure("rope", SLOW / "rope_forged_report.py", BenchOptions(quick=True, budget_s=0.05))


def test_only_signed_marks_count_and_the_first_other_byte_ends_them():
    from drillpe.launch import contract
    from drillpe.launch.bench import pair_marks, signed_marks

    key = b"k" * 32

    def signed(kinds, start=0):
        out = []
        for n, kind in enumerate(kinds, start):
            out += [(1000 * n + i, byte) for i, byte in
                    enumerate(kind + contract.mark_tag(key, kind, n))]
        return out

    honest = signed([b"B", b"E", b"B", b"E"])
    marks = signed_marks(honest, key)
    assert [kind for _, kind in marks] == list(b"BEBE")
    assert pair_marks(marks) == [(8, 1008), (2008, 3008)]  # each at its last byte's arrival
    for forged in (honest[:9] + [(5, ord("E"))] + honest[9:],  # a stray unsigned mark
                   honest[:-1],  # a mark cut short
                   signed([b"B", b"E"], start=2),  # tags for other places in the stream
                   [(n, b) for n, b in enumerate(b"BE")]):  # unsigned, as before signing
        got = signed_marks(forged, key)
        assert got and got[-1][1] == 0 and pair_marks(got) is None, forged[:3]


# t5_bias, relative and learnable build modules with random weights, and the bench
# compared none of their outputs: a reviewer's returned torch.empty in the timed calls.
# Both sides now get the same weights, refilled before every phase as inputs are.
MODULE_EXPLOITS = {
    ("t5_bias", "t5_bias_empty.py"): ["bench.stale_output"],
    # copies of an output kept whatever the weights (a reviewer's kept it while the
    # weights were unchanged: "the same" as production, before they were refilled)
    ("t5_bias", "t5_bias_memo_clone.py"): ["bench.stale_output"],
    # the very tensor kept while the weights are unchanged (bench.output_reused once):
    # it never finds them unchanged now, and gets its honest time
    ("t5_bias", "t5_bias_memo.py"): [],
    # outputs written into a ring of buffers made in advance; numpy's: memory torch did
    # not allocate, in a new storage object every call
    ("learnable", "learnable_ring.py"): ["bench.output_reused"],
    ("learnable", "learnable_numpy_ring.py"): ["bench.foreign_memory"],
    # (not a module's) an output carrying a generator, whose `finally` ran when the
    # bench let go of the phase's outputs, after the next refill
    ("alibi", "alibi_freed_output.py"): ["bench.tampering"],
    # its projections from planes kept on the first call, found by reading three values
    # of x, while every tensor was rolled by one shift (the channels of x and the
    # weights lined up): each tensor has a shift of its own now
    ("relative", "relative_rolls_aligned.py"): ["bench.stale_output"],
    # tables kept per positions object, while the positions were the same every call
    # (a reviewer's: "1.57x faster" for code 10x slower, and "same" as production), or
    # turned by the first position while the positions moved alike in place ("1.15x
    # faster" for code 9x slower): every phase's positions are new tensors, so each is
    # rebuilt, on the clock, and its outputs match (the loop named: test below)
    ("rope_2d", "rope_2d_id_cache_loop.py"): [],
    ("rope_2d", "rope_2d_id_turned.py"): [],
    # kept per sorted pattern: the same while positions were only shuffled and moved alike
    ("rope_2d", "rope_2d_sorted_key.py"): [],
    ("rope_neox", "rope_neox_id_cache.py"): [],
    # kept per shape and turned by the first position: right only for one pattern, as
    # long as the positions moved alike (it passes grading); they come in new orders now
    # (the grading fixture that fails the per-row check for it)
    ("rope_neox", "kept_per_shape.py"): ["bench.stale_output"],
    # each output written over the previous call's input, which another slot holds
    ("rope_2d", "rope_2d_into_prev_input.py"): ["bench.output_is_input"],
}


@pytest.mark.parametrize("exercise, name", sorted(MODULE_EXPLOITS), ids=lambda v: str(v))
def test_a_module_with_weights_of_its_own_has_its_timed_outputs_checked(exercise, name):
    from drillpe.grading.bench_child import MIN_PHASES
    from drillpe.launch.bench import BenchOptions, measure

    path = SLOW / name if (SLOW / name).is_file() else FIXTURES / exercise / name
    report = measure(exercise, path, BenchOptions(quick=True, budget_s=0.05))
    [target] = report.targets
    assert [r.split(":")[0] for r in target.refused] == MODULE_EXPLOITS[exercise, name], (
        target.refused)
    if not MODULE_EXPLOITS[exercise, name]:  # every checked output from its call's weights
        assert target.checked_outputs >= MIN_PHASES
    elif exercise in ("rope_neox", "rope_2d") and "bench.stale_output" in \
            MODULE_EXPLOITS[exercise, name]:  # says what the positions are like
        assert "new tensors with new values every phase" in " ".join(target.refused)


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_timing_processes_keep_freed_memory():
    """glibc gives a large freed block back to the kernel, and the next call faults its
    pages in again: beside a learner's RoPE, the copy that bounds it faulted in two
    thirds of its pages every phase and took 4-8 ms, beside the production code 1.4-3.8 ms.
    Counted in page faults (a fact of the process), not in time, in a child forked from
    this process: mallopt's setting lasts for the process, and torch is imported here
    already (a new interpreter would import it again)."""
    import resource
    import traceback

    import torch

    from drillpe.grading.bench_child import keep_freed_memory

    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only what the test reads, then out without Python's exit
        code = 1
        try:
            said = keep_freed_memory()
            torch.set_num_threads(1)  # as the bench's: no thread's arena beside the heap
            counts = []
            for _ in range(12):  # 64 MB each, above any size glibc would mmap at: made,
                before = faults()  # written and freed, as a timed call's temporaries
                torch.ones(2**24)
                counts.append(faults() - before)
            os.write(write, f"{said}\n{counts}".encode())
            code = 0
        except BaseException:
            os.write(write, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        told = pipe.read()
    status = os.waitpid(pid, 0)[1]
    assert status == 0, f"the forked child ended with status {status}: {told}"
    said, counts = told.splitlines()
    assert said == "freed memory kept"
    pages = 2**26 // os.sysconf("SC_PAGE_SIZE")
    # Without it every call faults all its pages in again. With it the heap takes a few
    # calls to hold free blocks this size (and the child copies pages it shares with
    # this process once), then a call faults in none.
    assert min(ast.literal_eval(counts)[4:]) < pages // 4, f"page faults per call of " \
        f"{pages} pages: {counts}"


def test_a_timing_thread_keeps_the_memory_its_calls_free():
    """The learner's side times its calls on a thread of its own, and glibc gave such a
    thread an arena of mapped heaps that it unmapped as they emptied, whatever mallopt
    said: each call faulted its pages in again there (the production side, timed on its
    main thread, did not). A process started with the bench's environment and set up as
    the timing processes set themselves up allocates on a new thread as on the main one
    (a fork of this process would not do: its threads made arenas before the fork)."""
    import subprocess

    from drillpe.launch.bench import TIMING_ENV

    script = (
        "import resource, threading\n"
        "from drillpe.grading.bench_child import keep_freed_memory\n"
        "import torch\n"
        "print(keep_freed_memory())\n"
        "torch.set_num_threads(1)\n"
        "counts = []\n"
        "def calls():\n"
        "    for _ in range(12):\n"
        "        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "        torch.ones(2**24)\n"
        "        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
        "worker = threading.Thread(target=calls)\n"
        "worker.start()\n"
        "worker.join()\n"
        "print(counts)\n")
    env = {**os.environ, **TIMING_ENV, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    said, counts = res.stdout.splitlines()
    assert said == "freed memory kept"
    pages = 2**26 // os.sysconf("SC_PAGE_SIZE")
    assert min(ast.literal_eval(counts)[4:]) < pages // 4, f"page faults per call of " \
        f"{pages} pages on a thread: {counts}"


def test_learner_code_cannot_pass_for_drillpe_saying_a_spec_or_device_is_missing():
    from drillpe.launch.bench import BenchFailed, BenchOptions, measure

    with pytest.raises(BenchFailed, match="exit 5, which is drillpe's own code"):
        measure("rope", SLOW / "rope_exits_as_drillpe.py", BenchOptions(quick=True,
                                                                          budget_s=0.05))


def test_the_learners_share_is_against_the_faster_of_the_two_copies():
    """A copy beside the learner's code that ran 5x slower than drillpe's (a busy
    moment) lifted a reviewer's share to 254%."""
    slow_beside = _timed(2e-3, copy_s=1e-3)
    slow_beside.learner_copy = {"median_s": 5e-3}
    assert slow_beside.roofline(slow_beside.learner) == pytest.approx(0.5)
    fast_beside = _timed(2e-3, copy_s=1e-3)
    fast_beside.learner_copy = {"median_s": 8e-4}
    assert fast_beside.roofline(fast_beside.learner) == pytest.approx(0.4)


def test_every_output_of_a_phase_lives_until_the_checked_one_is_drawn():
    """The bench held only the checked call's output, drawn before the phase: a
    reviewer's code read the tensors' use counts, computed that one alone and returned
    empty memory for the rest (274x faster than production, every check matched). Now
    every output of a phase is kept until its end, and the checked one drawn then."""
    import random
    import weakref

    import torch

    from drillpe.grading import bench_child
    from drillpe.grading.bench_specs import Target

    made, freed_early, checked = [], [], []

    def call():
        freed_early.extend(ref for ref in made if ref() is None)
        out = torch.full((4,), float(len(made)))
        made.append(weakref.ref(out))
        return out

    target = Target(name="t", call="t()", sizes={}, trace_size={}, axes={},
                    inputs=lambda s, device, dtype, gen: {}, prepare=lambda mod, x, s: call)
    slots = bench_child.Slots(target, None, {}, torch.device("cpu"), torch.float32, 0)
    run = bench_child.Run("timing", slots, torch.device("cpu"), 0.001,
                          lambda phase, slot, out, another, reading: checked.append(int(out[0])))
    refresh = slots.refresh

    def new_phase(rng):  # outputs of an earlier phase may go: start counting again
        made.clear()
        refresh(rng)

    slots.refresh = new_phase
    bench_child.run_phases([run], torch.device("cpu"), 0.001, bench_child.Marks(None),
                           random.Random(0))
    assert run.calls > 1 and len(run.phases) >= bench_child.MIN_PHASES
    assert freed_early == []
    assert len(set(checked)) > 1  # drawn anew each phase, among all its calls


def test_code_that_runs_when_an_output_is_read_runs_on_the_clock():
    """Every route reviewers found ran the learner's code after the end mark, when the
    bench read the checked output (its container's, its own or its class's methods). The
    bench now reads only copies it takes between marks of its own: code that still ran
    there (here a torch function mode, which the guard, not given here, would refuse)
    is timed by the parent's clock, against the same read of the copy, and refused."""
    import random
    import time

    import torch
    from torch.overrides import TorchFunctionMode

    from drillpe.grading import bench_child
    from drillpe.grading.bench_specs import Target
    from drillpe.launch.bench import pair_marks, refusals, summarise

    pending = []

    class Later(TorchFunctionMode):  # does the call's work the first time torch is used
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if pending:
                pending.clear()
                time.sleep(0.02)
            return func(*args, **(kwargs or {}))

    def call(x):
        pending.clear()  # the call's own torch work runs at once
        out = x.clone()
        pending.append(x)
        return out

    target = Target(name="t", call="t(x)", sizes={}, trace_size={}, axes={},
                    inputs=lambda s, device, dtype, gen: {"x": torch.zeros(64)},
                    data_inputs=("x",), prepare=lambda mod, x, s: lambda: call(x["x"]))
    slots = bench_child.Slots(target, None, {}, torch.device("cpu"), torch.float32, 0)
    copies = []
    run = bench_child.Run("timing", slots, torch.device("cpu"), 0.001,
                          lambda phase, slot, out, another, reading: copies.append(reading))

    class Stamped(bench_child.Marks):
        def __call__(self, byte):
            stamped.append((time.perf_counter_ns(), byte[0]))
            super().__call__(byte)

    stamped = []
    with Later():
        bench_child.run_phases([run], torch.device("cpu"), 0.001, Stamped(None),
                               random.Random(0))
    pairs = pair_marks(stamped)
    assert pairs and all(len(pair) == 5 for pair in pairs)
    assert all(read > 0.02e9 > again for *_, read, _, again in pairs)  # in C…D, not F…G
    assert all(type(r.copies[0]) is torch.Tensor for r in copies)
    learner = summarise(run.result(), pairs)
    [why] = refusals(_timed(2e-3, **learner), {}, {}, [], None)
    assert why.startswith("bench.deferred_work")


def test_the_draws_use_no_global_of_the_random_module(monkeypatch):
    """random.Random.randrange looks up random._index on every call: a reviewer's code
    replaced it, and the bench's draw of the checked call ran it after the end mark."""
    import random

    from drillpe.grading import bench_child

    def refuse(*args):
        raise AssertionError("a global of the random module ran")

    rng = random.Random(0)
    for name in ("_index", "_floor", "_log", "_exp"):
        if hasattr(random, name):
            monkeypatch.setattr(random, name, refuse)
    draws = [bench_child.draw_below(rng, 5) for _ in range(2000)]
    assert set(draws) == set(range(5)) and max(draws.count(n) for n in range(5)) < 500
    assert all(0.5 <= bench_child.draw_between(rng, 0.5, 2.0) < 2.0 for _ in range(100))
    assert bench_child.draw_below(rng, 1) == 0


def test_the_kernels_of_the_operators_the_timing_code_runs_are_compared():
    """A kernel registered for an operator (torch.library) runs in drillpe's own copies:
    rope_clone_kernel.py's did the rotation in the read of the checked outputs and
    slept as long in the read of drillpe's copy. The timing process compares the
    dispatcher's entries of what its work between the calls runs, found with a
    function mode (a dispatch mode would import torch._dynamo there, 1.4 s), plus
    LOWERED: here a dispatch mode checks that LOWERED holds what those come down to."""
    import random

    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from drillpe.grading import bench_child as bc

    class Seen(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.add(func._schema.name)
            return func(*args, **(kwargs or {}))

    seen: set[str] = set()
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    out = (base * 2, [base + 1])
    with Seen(), torch.no_grad():
        bc.fill(torch.empty_like(base), base, 1.5, 5)
        for kind in range(bc.POSITION_KINDS):  # positions (a reviewer's kernel for add_
            for grid in (False, True):  # ran there)
                for shift in (5 + kind, 30 + kind):  # each bit above the kind both ways
                    bc._draw_kind(kind, [torch.arange(4), torch.arange(4) % 2], shift, 64, grid)
        reading = bc.read_outputs(out, out)
        bc.read_outputs(*reading.copies)
        bc.fingerprint(out, {bc._storage(base)}, random.Random(0), reading.copies[0])
    compared = {name.split(".")[0] for name in bc._operators_used()}
    assert {"aten::clone", "aten::mul", "aten::abs", "aten::sum", "aten::randint",
            "aten::randperm", "aten::sort", "aten::add"} <= seen
    assert seen <= compared, seen - compared


def test_the_report_and_its_signatures_run_no_python_module_code(monkeypatch):
    """Code in the timing process could replace what json.dumps and hmac.new look up
    as they run, and rewrite the report before it is signed, or be handed the key:
    the report is written and signed with built-ins and C functions bound at import."""
    import hmac
    import json

    from drillpe.grading.bench_child import to_json
    from drillpe.launch import contract

    def refuse(*args, **kwargs):
        raise AssertionError("a Python-level function of json or hmac ran")

    report = {"targets": [{"median_s": 1.5e-3, "samples": [[1, float("nan")], None]},
                          {"error": "é\"\n", "ok": True, "dtype": Path("x")}], "n": 10**20}
    expected = json.loads(json.dumps(report, default=str))
    key = b"k" * 32
    mark, tag = contract.mark_tag(key, b"B", 3), contract.report_tag(key, b"body")
    for name in ("new", "digest", "HMAC"):
        monkeypatch.setattr(hmac, name, refuse)
    monkeypatch.setattr(json, "dumps", refuse)
    monkeypatch.setattr(json.JSONEncoder, "encode", refuse)
    assert str(json.loads(to_json(report))) == str(expected)
    assert contract.mark_tag(key, b"B", 3) == mark and len(mark) == 8
    assert contract.report_tag(key, b"body") == tag


def test_a_warning_from_the_timing_codes_own_calls_runs_none_of_the_learners_code(
        monkeypatch):
    """A reviewer's code shrank a slot's input (resize_, storage kept): the refill's
    write then raised a warning, and the sys.stderr it had put in place ran the
    rotation with the new values, where no clock ran (rope_refill_warning.py)."""
    import io
    import warnings

    import torch

    from drillpe.grading import bench_child as bc
    from drillpe.grading.bench_specs import Target

    target = Target(name="t", call="t(x)", sizes={}, trace_size={}, axes={},
                    inputs=lambda s, device, dtype, gen: {"x": torch.zeros(64)},
                    data_inputs=("x",), prepare=lambda mod, x, s: lambda: x["x"] * 2)
    slots = bc.Slots(target, None, {}, torch.device("cpu"), torch.float32, 0)
    slots.inputs[0]["x"].resize_(63)
    with pytest.raises(bc.Tampered, match="the input x was resized"):
        slots.refresh(None)
    with warnings.catch_warnings():  # (a list of filters of its own: snapshot inside)
        bc._snapshot()
        warnings.simplefilter("ignore")  # a learner's file may silence warnings
        bc.check_timing_state()

        class Anything:
            def match(self, text):
                return True

        warnings.filters.insert(0, ("always", Anything(), Warning, None, 0))
        with pytest.raises(bc.Tampered, match="warnings.filters"):
            bc.check_timing_state()
        warnings.filters.pop(0)
        monkeypatch.setattr("sys.stderr", io.StringIO())
        with pytest.raises(bc.Tampered, match="sys.stderr"):
            bc.check_timing_state()


def test_what_the_cuda_sync_enters_is_compared(monkeypatch):
    """torch.cuda.synchronize enters torch.cuda.device, whose __enter__ a reviewer's
    code replaced through a function's argument, to compute the next phase's outputs
    in the sync after each refill. The timing code syncs with the C function where
    torch has one (a CUDA build; not this one), and the guard compares torch.cuda's
    names and that class's with their snapshot."""
    import torch

    from drillpe.grading import bench_child as bc

    bc._snapshot()
    bc.check_timing_state()
    monkeypatch.setattr(torch.cuda.device, "__enter__", lambda self: None)
    with pytest.raises(bc.Tampered, match="device.__enter__"):
        bc.check_timing_state()
    sync = bc._sync(torch.device("cuda"))
    assert sync is (bc._CUDA_SYNC or torch.cuda.synchronize)
    assert bc._CUDA_SYNC is None or type(bc._CUDA_SYNC).__name__ == "builtin_function_or_method"


def test_the_output_check_reads_no_container_through_pytree():
    """torch's pytree finds its handlers in a registry code can change; the learner's
    outputs are read with the built-in types' own methods only."""
    import random

    import torch
    from torch.utils import _pytree

    from drillpe.grading import bench_child

    out = (torch.ones(3), [torch.zeros(2)])
    saved = _pytree.SUPPORTED_NODES[tuple]

    def refuse(*args):
        raise AssertionError("pytree ran")

    _pytree.SUPPORTED_NODES[tuple] = saved._replace(flatten_fn=refuse)
    try:
        reading = bench_child.read_outputs(out, None)
        found = bench_child.fingerprint(out, set(), random.Random(0), reading.copies[0])
        assert len(bench_child._storages(out)) == 2
    finally:
        _pytree.SUPPORTED_NODES[tuple] = saved
    assert [t["shape"] for t in found["tensors"]] == [[3], [2]]


def test_the_collector_runs_only_while_a_phases_calls_run():
    """Reviewers' code left a generator in a reference cycle, whose `finally` the
    collector runs, and aimed the collection where the clock did not run: after the end
    mark (rope_gc_deferred.py wrote the real outputs there), then while the next phase's
    inputs were refilled (it computed that phase's outputs there, and the timed calls
    handed back copies: "the same" as production for code 10x slower). Here the calls,
    the refill and the output check all make cycles; every collection must fall
    between a begin mark and the end mark after it."""
    import gc
    import random

    import torch

    from drillpe.grading import bench_child
    from drillpe.grading.bench_specs import Target

    events = []

    class Cycle:
        def __init__(self):
            self.me = self

    def cycles(n=3000):  # past the collector's threshold (700) several times over
        for _ in range(n):
            Cycle()

    def call():
        cycles()
        return torch.zeros(4)

    def collected(phase, info):
        if phase == "start":
            events.append("gc")

    target = Target(name="t", call="t()", sizes={}, trace_size={}, axes={},
                    inputs=lambda s, device, dtype, gen: {"x": torch.zeros(4)},
                    data_inputs=("x",), prepare=lambda mod, x, s: call)
    slots = bench_child.Slots(target, None, {}, torch.device("cpu"), torch.float32, 0)
    refill = slots.refresh
    slots.refresh = lambda rng: (events.append("refill"), cycles(), refill(rng))
    run = bench_child.Run("timing", slots, torch.device("cpu"), 0.001,
                          lambda phase, slot, out, another, reading: cycles())
    class Recording(bench_child.Marks):
        def __call__(self, byte):
            events.append(byte.decode())
            super().__call__(byte)

    gc.callbacks.append(collected)
    try:
        bench_child.run_phases([run], torch.device("cpu"), 0.001, Recording(None),
                               random.Random(0))
    finally:
        gc.callbacks.remove(collected)
    assert "gc" in events and events.count("B") >= bench_child.MIN_PHASES
    # From the first refill (after run_phases' own collect()) to the last phase's last
    # mark: once every phase is over, run_phases switches the collector back on, and a
    # collection may come there (a CI run met one after the last G: no clock is left)
    watched = events[events.index("refill"):]
    watched = watched[:len(watched) - watched[::-1].index("G")]
    inside = False
    for event in watched:
        if event in ("B", "E"):
            inside = event == "B"
        elif event == "gc":
            assert inside, f"a collection outside a phase's calls: {' '.join(events)}"


def test_under_the_guard_the_timing_process_confines_the_learners_code(monkeypatch, tmp_path):
    """A reviewer's honest answer ran a shell command from the bench's timing process
    under the guard (torch.backends.xeon.run_cpu's launcher: the grade's learner process
    refuses processes and writes, the timing process did not) and planted two files;
    another read the model answer there through a bytes path. Both are refused now."""
    from drillpe.launch.bench import BenchFailed, BenchOptions, measure

    monkeypatch.setenv("DRILLPE_ISOLATION", "guard")
    planted = Path("/tmp/drillpe-test-planted-dir")
    report = measure("rope", SLOW / "rope_runs_a_command.py",
                     BenchOptions(quick=True, budget_s=0.05))
    [target] = report.targets
    assert [r.split(":")[0] for r in target.refused] == ["bench.tampering"], target.refused
    assert "os.mkdir" in target.refused[0] and not planted.exists()
    answer = tmp_path / "rope.py"
    answer.write_text((SLOW / "rope_fast.py").read_text() + (
        "\nimport os as _os\n_fd = _os.open(" + repr(str(ROOT / "solutions" / "rope.py").encode())
        + ", _os.O_RDONLY)\n"))
    with pytest.raises(BenchFailed, match="may not read the reference solutions"):
        measure("rope", answer, BenchOptions(quick=True, budget_s=0.05))


def test_a_slower_answer_is_told_how_the_production_code_does_the_call():
    """A newcomer's correct relative answer was 3.6x slower and the bench named no cause:
    every exercise's spec says, in a sentence or two, how its production code does the
    call, and the bench prints it under a slower or faster verdict, or under "same" where
    yours makes far more passes over memory (not with --quiet)."""
    from drillpe.grading import bench_specs
    from drillpe.launch.bench import BenchOptions, BenchReport
    from drillpe.render.tool_views import bench, capture

    for exercise_id in catalog.ids():
        for target in bench_specs.targets(exercise_id):
            assert len(target.production_note) > 40, (exercise_id, target.name)

    def shown(learner_s, quiet=False, passes=(1.0, 1.0)):
        side = {"median_s": learner_s, "q1_s": learner_s, "q3_s": learner_s, "runs": 10}
        target = TargetBench(name="forward", call="f(x)", size={"L": 8}, learner=side,
                             reference={"median_s": 1.0, "q1_s": 1.0, "q3_s": 1.0, "runs": 10},
                             production_note="it keeps the table.",
                             trace={"out_bytes": 8, "written_bytes": 8 * passes[0]},
                             reference_trace={"out_bytes": 8, "written_bytes": 8 * passes[1]})
        report = BenchReport(exercise="relative", file="relative.py", options=BenchOptions(),
                             machine={"device": "cpu", "threads": 1, "torch": "2"},
                             targets=[target])
        return " ".join(capture(bench, report, html=False, quiet=quiet).split())

    assert "How the production code does it: It keeps the table." in shown(2.0)
    assert "How the production code does it: It keeps the table." in shown(0.5)  # faster
    assert "How the production code does it" not in shown(1.0)
    # "same", but with far more passes over memory than the production code makes (a
    # newcomer's rope_neox, 4.2 against 2.5, was 1.22x faster once it followed the note)
    assert "How the production code does it" in shown(1.0, passes=(4.2, 2.5))
    assert "How the production code does it" not in shown(1.0, passes=(3.0, 2.5))
    # one ratio, one way of writing it: the table said "1.69e+03× slower" and the
    # sentence under it "1693.82×" (a newcomer's)
    text = shown(1693.82)
    assert "1,694× slower" in text and "Yours takes 1,694×" in text and "e+" not in text
    assert "1.31× slower" in shown(1.3104) and "Yours takes 1.31×" in shown(1.3104)
    assert "How the production code does it" not in shown(2.0, quiet=True)
