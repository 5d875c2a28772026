"""The warm judge worker's kept reference results (drillpe/grading/reference_memo.py):
what a judge gets from the memo is what the oracle's function computes, and
anything not matched exactly is computed."""

import types
import warnings

import pytest
import torch

from drillpe.data import bundle, catalog
from drillpe.grading import judge, reference_memo
from drillpe.grading.common import load_grader, load_reference, load_solution

CPU = torch.device("cpu")
SEED = 0
WITH_MEMO = [e for e in catalog.ids() if bundle.oracle_path(e).is_file()
             and getattr(load_reference(e), "MEMO", ())]


@pytest.fixture(scope="module")
def warmed():
    """exercise id -> its MemoReference, warmed as a warm judge worker warms it."""
    made = {}
    for exercise_id in WITH_MEMO:
        grader = load_grader(exercise_id)
        judge.prepare_inputs(grader, SEED, CPU)
        reference = reference_memo.wrap(load_reference(exercise_id))
        reference_memo.warm(grader, reference, load_solution(exercise_id), SEED, CPU,
                            judge._prepared)
        made[exercise_id] = reference
    return made


def _same(a, b) -> bool:
    """Bit for bit: same type, dtype, shape and device, NaN where the other has NaN."""
    if isinstance(a, torch.Tensor):
        if not (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape
                and a.device == b.device):
            return False
        if a.is_floating_point() or a.is_complex():
            nan = a.isnan()
            return torch.equal(nan, b.isnan()) and torch.equal(a[~nan], b[~nan])
        return torch.equal(a, b)
    if type(a) in (tuple, list):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b or (a != a and b != b)


def test_every_name_an_oracle_keeps_is_one_of_its_functions():
    assert set(WITH_MEMO) >= {"rope", "alibi", "rope_convert", "rope_neox"}
    for exercise_id in WITH_MEMO:
        oracle = load_reference(exercise_id)
        # the model answer the worker runs to fill the memo, loaded with the oracle
        assert isinstance(getattr(oracle, "model", None), types.ModuleType), exercise_id
        for name in oracle.MEMO:
            assert isinstance(getattr(oracle, name, None), types.FunctionType), (exercise_id, name)


@pytest.mark.parametrize("exercise_id", WITH_MEMO)
def test_every_kept_result_is_what_the_function_computes_afresh(warmed, exercise_id):
    memo = warmed[exercise_id]._memo
    assert not memo.recording  # a forked judge adds nothing
    assert memo.entries, f"the model answer's run kept nothing for {exercise_id}"
    oracle = load_reference(exercise_id)
    for key, (kept, versions, result) in memo.entries.items():
        # the kept arguments are the judge's prepared input tensors, unchanged
        assert [t._version for t in kept] == versions
        args, kwargs = _arguments(key, kept)
        assert _same(getattr(oracle, key[0])(*args, **kwargs), result), (exercise_id, key[0])


def _arguments(key, kept):
    """The call a key stands for, rebuilt from its plain values and kept tensors."""
    tensors = iter(kept)

    def value(node):
        kind, payload = node[0], node[1] if len(node) == 2 else node[1:]
        if kind == "tensor":
            return next(tensors)
        if kind == "value":
            cls, dtype, shape, data = payload
            dtype = getattr(torch, dtype.removeprefix("torch."))
            t = torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(shape) \
                if data else torch.empty(shape, dtype=dtype)
            return torch.nn.Parameter(t, requires_grad=False) if cls == "Parameter" else t
        if kind == "float":
            return float.fromhex(payload)
        if kind in ("tuple", "list"):
            items = [value(item) for item in payload]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            return {k: value(v) for k, v in payload}
        return payload

    _, args, kwargs = key
    return value(args), value(kwargs)


def _counting():
    seen = []

    def fn(t, scale=1.0):
        seen.append(1)
        return t * scale
    return fn, seen


def test_a_kept_result_comes_back_for_the_same_tensor_only_and_as_a_copy():
    fn, seen = _counting()
    memo = reference_memo.Memo()
    x = torch.arange(10_000.0, dtype=torch.float64)  # 80 KB: matched by identity
    assert x.numel() * x.element_size() > reference_memo.BY_VALUE_BYTES
    memo.recording = True
    memo.call("f", fn, (x,), {"scale": 2.0})  # not one of the case's inputs: not kept
    assert memo.entries == {} and len(seen) == 1
    memo.inputs = {id(x)}
    first = memo.call("f", fn, (x,), {"scale": 2.0})
    memo.recording = False
    again = memo.call("f", fn, (x,), {"scale": 2.0})
    assert len(seen) == 2 and torch.equal(again, first) and again is not first
    again.add_(1)  # a caller that writes into its copy changes nothing kept
    assert torch.equal(memo.call("f", fn, (x,), {"scale": 2.0}), x * 2)
    assert len(seen) == 2
    # the same values in another tensor, another scale, no scale: computed
    memo.call("f", fn, (x.clone(),), {"scale": 2.0})
    memo.call("f", fn, (x,), {"scale": 3.0})
    memo.call("f", fn, (x,), {})
    assert len(seen) == 5
    memo.recording = True
    memo.call("f", fn, (x,), {"scale": 0.0})
    memo.recording = False
    assert torch.equal(memo.call("f", fn, (x,), {"scale": -0.0}), x * -0.0) and len(seen) == 7


def test_a_tensor_written_into_since_is_computed_again():
    fn, seen = _counting()
    memo = reference_memo.Memo()
    x = torch.arange(10_000.0, dtype=torch.float64)
    memo.recording, memo.inputs = True, {id(x)}
    memo.call("f", fn, (x,), {})
    memo.recording = False
    x.mul_(5)
    assert torch.equal(memo.call("f", fn, (x,), {}), torch.arange(10_000.0).double() * 5)
    assert len(seen) == 2


def test_arguments_that_cannot_be_matched_exactly_are_computed_and_never_kept():
    fn, seen = _counting()
    memo = reference_memo.Memo()
    memo.recording = True

    class Sub(torch.Tensor):
        pass
    for odd in (torch.arange(3.0).as_subclass(Sub), torch.nn.Dropout(0.5), object()):
        memo.call("g", lambda t, _odd=odd: (seen.append(1), 0)[1], (odd,), {})
    memo.call("f", fn, (torch.ones(2),), {"scale": torch.tensor(2.0).as_subclass(Sub)})
    assert len(seen) == 4 and memo.entries == {}
    # a result that is not tensors and plain values is not kept either
    memo.call("h", lambda: object(), (), {})
    assert memo.entries == {}


def test_a_function_the_oracle_does_not_name_goes_straight_through():
    oracle = load_reference("alibi")
    reference = reference_memo.wrap(oracle)
    assert reference.get_slopes is oracle.get_slopes
    assert reference.attend is not oracle.attend and reference.attend.__wrapped__ is oracle.attend
    plain = load_reference("sinusoidal")  # no oracle: the model answer itself
    assert reference_memo.wrap(plain) is plain


def test_the_warm_judge_worker_keeps_an_exercises_results_after_its_first_grade():
    # deferred: the judge worker's module, only for this test
    from drillpe.grading import warm_worker

    preloaded = warm_worker._single_threaded(warm_worker._preload, "judge")
    reference = preloaded["alibi"][1]
    assert isinstance(reference, reference_memo.MemoReference)
    assert reference._memo.entries == {}  # nothing computed before a grade asks
    request = {"args": ["--exercise", "alibi", "--file", "x.py", "--run-dir", "r"]}
    assert warm_worker._exercise_of(request) == "alibi"
    assert warm_worker._exercise_of({"args": ["--exercise"]}) is None
    rng = torch.get_rng_state()
    warm_worker._keep_results("alibi", preloaded)
    kept = reference._memo.entries
    assert kept and not reference._memo.recording
    assert torch.equal(torch.get_rng_state(), rng)  # later judges draw as before
    # every large tensor it matches is one of the judge's own prepared inputs
    prepared = {id(t) for (check, _, seed, _), (x, _) in judge._prepared.items()
                if check.startswith("alibi.") and seed == SEED
                for t in x.values() if isinstance(t, torch.Tensor)}
    tensors = [t for args, _, _ in kept.values() for t in args]
    assert tensors and {id(t) for t in tensors} <= prepared


def test_tensors_whose_bytes_do_not_say_all_they_hold_are_computed():
    fn, seen = _counting()
    memo = reference_memo.Memo()
    memo.recording = True
    small = torch.tensor([1.0, -2.0])
    with warnings.catch_warnings():  # quantized tensors are deprecated; still made
        warnings.simplefilter("ignore")
        quantized = torch.quantize_per_tensor(small, 0.1, 0, torch.qint8)
    odd = [quantized,
           torch.tensor([1 + 2j]).conj(), small.to_sparse(),
           torch.tensor([1 + 2j])._neg_view()]
    for t in odd:
        memo.call("g", lambda t: (seen.append(1), 0)[1], (t,), {})
    assert len(seen) == len(odd) and memo.entries == {}


def test_a_small_tensor_is_matched_by_its_bytes_wherever_it_came_from():
    fn, seen = _counting()
    memo = reference_memo.Memo()
    memo.recording = True
    memo.call("f", fn, (torch.arange(8.0),), {})
    memo.recording = False
    memo.call("f", fn, (torch.arange(8.0),), {})  # built afresh: the same bytes
    memo.call("f", fn, (torch.arange(8, dtype=torch.float32).double(),), {})
    assert len(seen) == 2  # float64's bytes of 0..7 are float64's, not float32's
    memo.call("f", fn, (torch.arange(8.0).reshape(2, 4),), {})  # another shape
    memo.call("f", fn, (torch.arange(8.0).half(),), {})  # another dtype
    assert len(seen) == 4
