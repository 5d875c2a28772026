"""Grader for `learnable`: the module owns one trainable (max_len, d_model)
table; after the grader writes known values into it, forward(x, offset) must
give exactly x + table[offset : offset + L]; gradients reach exactly those
rows; too long inputs are rejected by the learner's own check.

`run` finds the table among the module's parameters (or buffers, so that a
frozen table is still graded on its values), writes the case's weights into
it, and returns plain data; the judges name the structural mistakes
(unregistered, wrong shape, frozen, detached, module returned) before
comparing values, so one mistake is not reported as a pile of mismatches.
"""

import ast
import inspect
import traceback
from pathlib import Path

import torch

from drillpe.grading import (
    Fail,
    Grader,
    ObjectOut,
    TensorOut,
    assert_close,
    expect_tensor,
    heatmap,
    type_name,
    unravel,
)

GRADER = Grader("learnable")
NEEDS = ("TrainablePositionEncoding",)

# The gradient never reaches a table that requires grad (.detach(), .data,
# torch.no_grad() in forward). Needs an entry in exercises/diagnoses.toml.
DETACHED = "learnable.detached"

# Never square (max_len == d): a transposed table must not pass for the right one.
PARAM_CASES = [dict(max_len=8, d=4), dict(max_len=16, d=2), dict(max_len=512, d=128),
               dict(max_len=2048, d=16)]
SHAPE_CASES = [dict(B=1, L=1, d=2, max_len=4), dict(B=3, L=10, d=8, max_len=16)]
VALUE_CASES = [  # offset 0; L == max_len included (the last row must be usable)
    dict(B=1, L=1, d=2, max_len=4),
    dict(B=3, L=7, d=8, max_len=16),
    dict(B=2, L=64, d=32, max_len=64),
    dict(B=3, L=200, d=128, max_len=512),
    dict(B=1, L=512, d=16, max_len=2048),
]
OFFSET_CASES = [  # KV-cache style: one token at the last row, chunks ending at max_len
    dict(B=1, L=1, d=4, max_len=8, offset=7),
    dict(B=3, L=5, d=8, max_len=32, offset=9),
    dict(B=2, L=64, d=64, max_len=512, offset=448),
    dict(B=1, L=16, d=16, max_len=2048, offset=2032),
]
GRAD_CASES = [
    dict(B=1, L=1, d=2, max_len=4, offset=0),
    dict(B=3, L=5, d=8, max_len=16, offset=4),
    dict(B=2, L=30, d=16, max_len=64, offset=34),
]
LOW_CASES = [
    dict(B=2, L=16, d=32, max_len=64, dtype="bfloat16"),
    dict(B=3, L=100, d=64, max_len=128, dtype="float16"),
]
TOO_LONG_CASES = [  # offset + L == max_len + 1 each time
    dict(B=1, L=9, d=4, max_len=8, offset=0),
    dict(B=2, L=8, d=8, max_len=16, offset=9),
    dict(B=1, L=1, d=4, max_len=32, offset=32),
]
ROUNDING = {"bfloat16": 2.0**-8, "float16": 2.0**-11}  # unit roundoff


def inputs(case, rand):
    dtype = getattr(torch, case.get("dtype", "float32"))
    x = rand.normal(case["B"], case["L"], case["d"], dtype=dtype)
    table = rand.normal(case["max_len"], case["d"])
    return {"x": x, "table": table}


def grad_inputs(case, rand):
    out = inputs(case, rand)
    out["g"] = rand.normal(case["B"], case["L"], case["d"])
    return out


# --------------------------------------------------------------------------
# Learner side


def describe(module) -> list[list]:
    """[name, shape, requires_grad, kind] for every parameter, float buffer and
    plain tensor attribute (which parameters() never yields)."""
    out = [[n, list(p.shape), bool(p.requires_grad), "parameter"]
           for n, p in module.named_parameters()]
    out += [[n, list(b.shape), False, "buffer"]
            for n, b in module.named_buffers() if b.is_floating_point()]
    out += [[n, list(t.shape), bool(t.requires_grad), "attribute"]
            for n, t in vars(module).items() if isinstance(t, torch.Tensor)]
    return out


def find_table(module, max_len: int, d: int):
    """(tensor, layout) of the one table to write into, or (None, None).

    Parameters before buffers; the exact shape before a (1, max_len, d)
    ViT-style table and a transposed one, which are graded on their values
    (the parameter check reports the shape).
    """
    groups = ([p for _, p in module.named_parameters()],
              [b for _, b in module.named_buffers() if b.is_floating_point()])
    layouts = {"plain": (max_len, d), "leading1": (1, max_len, d), "transposed": (d, max_len)}
    for group in groups:
        for layout, shape in layouts.items():
            found = [t for t in group if tuple(t.shape) == shape]
            if len(found) == 1:
                return found[0], layout
            if len(found) > 1:
                return None, None
    return None, None


def to_layout(table: torch.Tensor, layout: str, shape) -> torch.Tensor:
    if layout == "transposed":
        table = table.T
    return table.reshape(shape)


def from_layout(t: torch.Tensor, layout: str, max_len: int, d: int) -> torch.Tensor:
    if layout == "transposed":
        return t.T
    return t.reshape(max_len, d)


def forward_signature_problem(module, offset: int | None) -> str | None:
    """Why forward cannot be called as forward(x[, offset=...]), or None."""
    args = {} if offset is None else {"offset": offset}
    try:
        inspect.signature(module.forward).bind(None, **args)
    except TypeError:
        wanted = "forward(x)" if offset is None else "forward(x, offset=...)"
        return f"cannot call {wanted}: your signature is forward{inspect.signature(module.forward)}"
    except ValueError:
        return None
    return None


def call(module, x, offset: int):
    return module(x) if offset == 0 else module(x, offset=offset)


def prepared(env, x, case, *, offset: int = 0, write: bool = True):
    """Build the module, write the case's table into it; (module, table, layout, record)."""
    module = env.mod.TrainablePositionEncoding(case["max_len"], case["d"])
    record = {"params": describe(module)}
    problem = forward_signature_problem(module, offset or None)
    if problem:
        record["signature"] = problem
        return module, None, None, record
    if hasattr(module, "to"):
        module = module.to(env.device)
    table, layout = find_table(module, case["max_len"], case["d"])
    record["found_table"] = table is not None
    if table is not None and write:
        with torch.no_grad():
            table.copy_(to_layout(x["table"], layout, table.shape).to(table.device))
    return module, table, layout, record


# --------------------------------------------------------------------------
# Judge side


def param_problem(params: list, case) -> Fail | None:
    """The structural diagnosis of the module's parameters, or None when right."""
    want = [case["max_len"], case["d"]]
    shape = f"({case['max_len']}, {case['d']})"
    trainable = [p for p in params if p[3] == "parameter"]
    listed = ", ".join(f"{n} {tuple(s)}" for n, s, _, _ in trainable)
    if not trainable:
        tables = {kind: name for name, got, _, kind in params if got == want}
        if "buffer" in tables:
            return Fail(f"{tables['buffer']} is a buffer (register_buffer), not a parameter: "
                        "it is never trained", ["learnable.frozen"])
        if "attribute" in tables:
            return Fail(f"self.{tables['attribute']} is a plain tensor, not an nn.Parameter: "
                        "module.parameters() never yields it, so an optimizer never trains it "
                        "(and .to(device) does not move it)", ["learnable.unregistered_parameter"])
        return Fail(f"TrainablePositionEncoding({case['max_len']}, {case['d']}) owns no "
                    f"parameters after __init__: create the {shape} table there and assign it "
                    "to self (a table built in forward is new on every call and never trained)",
                    ["learnable.unregistered_parameter"])
    if len(trainable) > 1:
        return Fail(f"the module owns {len(trainable)} parameters ({listed}); the exercise wants "
                    f"exactly one, of shape {shape}", ["learnable.wrong_param_shape"])
    name, got, requires_grad, _ = trainable[0]
    if got != want:
        return Fail(f"the parameter {name} has shape {tuple(got)}; expected {shape} "
                    "(max_sequence_length, d_model)", ["learnable.wrong_param_shape"])
    if not requires_grad:
        return Fail(f"the parameter {name} has requires_grad=False: it is never trained",
                    ["learnable.frozen"])
    return None


def expect_output(out, what: str, x: torch.Tensor, ctx, *, dtype=True) -> torch.Tensor:
    """The learner's forward output as a tensor shaped (and typed) like x."""
    if isinstance(out, ObjectOut) and out.is_module:
        raise Fail(f"{what} returned {out.type_name} (an nn.Module), not a tensor: {out.text}",
                   ["learnable.returns_module"])
    return expect_tensor(out, what, shape=tuple(x.shape), dtype=x.dtype if dtype else None,
                         device=ctx.device)


def forward_output(record, what: str, x, ctx, case, *, need_table: bool = True) -> torch.Tensor:
    """Common prelude: signature, return type, table found, then the tensor itself."""
    if "signature" in record:
        raise Fail(record["signature"], ["api.signature_mismatch"])
    if need_table and not record.get("found_table"):
        raise param_problem(record["params"], case) or Fail(
            "could not find the (max_len, d_model) table to write into", ["output.mismatch"])
    return expect_output(record["out"], what, x, ctx)


def forward_text(case) -> str:
    offset = case.get("offset", 0)
    return "forward(x)" if not offset else f"forward(x, offset={offset})"


# --------------------------------------------------------------------------
# Checks


@GRADER.check("learnable.parameter",
              "Owns exactly one trainable (max_len, d_model) parameter, created in __init__",
              cases=PARAM_CASES, needs=NEEDS)
def run_parameter(env, x, case):
    return describe(env.mod.TrainablePositionEncoding(case["max_len"], case["d"]))


@run_parameter.judge
def judge_parameter(ctx, x, case, out):
    failure = param_problem(out, case)
    if failure:
        raise failure


@GRADER.check("learnable.returns_tensor", "forward(x) returns a tensor shaped like x",
              cases=SHAPE_CASES, inputs=inputs, needs=NEEDS)
def run_returns(env, x, case):
    module = env.mod.TrainablePositionEncoding(case["max_len"], case["d"])
    problem = forward_signature_problem(module, None)
    if problem:
        try:  # the seed's forward() takes no x: still say what it returns
            inspect.signature(module.forward).bind()
        except TypeError:
            return {"signature": problem}
        return {"no_x": True, "out": module()}
    if hasattr(module, "to"):
        module = module.to(env.device)
    return {"out": module(x["x"])}


@run_returns.judge
def judge_returns(ctx, x, case, out):
    if "signature" in out:
        raise Fail(out["signature"], ["api.signature_mismatch"])
    if out.get("no_x"):
        result = out["out"]
        if isinstance(result, ObjectOut) and result.is_module:
            raise Fail(f"forward() takes no x and returns {result.type_name} (an nn.Module): it "
                       "should take x and return the tensor x + table rows",
                       ["learnable.returns_module"])
        raise Fail("forward() takes no x: it should be forward(x, offset=0) and return x + "
                   "table rows", ["api.signature_mismatch"])
    expect_output(out["out"], "forward(x)", x["x"], ctx)


@GRADER.check("learnable.matches_reference",
              "After the table is set, forward(x) is exactly x + table[:L]",
              cases=VALUE_CASES, inputs=inputs, needs=NEEDS)
def run_values(env, x, case):
    module, table, _, record = prepared(env, x, case)
    if table is not None:
        record["out"] = call(module, x["x"], 0)
    return record


@run_values.judge
def judge_values(ctx, x, case, out):
    got = forward_output(out, "forward(x)", x["x"], ctx, case)
    want = ctx.ref.add_positions(x["x"], x["table"], 0)
    # One float32 addition is correctly rounded, in any order: exact.
    assert_close(got, want.to(torch.float32), atol=0.0, what="x + table[:L]")


@GRADER.check("learnable.offset", "forward(x, offset) adds rows offset .. offset+L-1",
              level="extra", cases=OFFSET_CASES, inputs=inputs, needs=NEEDS)
def run_offset(env, x, case):
    module, table, _, record = prepared(env, x, case, offset=case["offset"])
    if table is not None:
        record["out"] = call(module, x["x"], case["offset"])
    return record


@run_offset.judge
def judge_offset(ctx, x, case, out):
    got = forward_output(out, forward_text(case), x["x"], ctx, case)
    offset, L = case["offset"], case["L"]
    want = ctx.ref.add_positions(x["x"], x["table"], offset)
    ignored = ctx.ref.add_positions(x["x"], x["table"], 0)
    assert_close(got, want.to(torch.float32), atol=0.0,
                 what=f"x + table[{offset}:{offset + L}]",
                 variants={"learnable.offset_ignored": ignored}, variant_atol=1e-5)


@GRADER.check("learnable.gradient",
              "The gradient reaches exactly rows offset .. offset+L-1 of the table",
              level="extra", cases=GRAD_CASES, inputs=grad_inputs, needs=NEEDS)
def run_gradient(env, x, case):
    offset = case["offset"]
    module, table, layout, record = prepared(env, x, case, offset=offset)
    if table is None:
        return record
    record["requires_grad"] = bool(table.requires_grad)
    if not table.requires_grad:
        return record
    out = call(module, x["x"], offset)
    if not isinstance(out, torch.Tensor):
        record["out"] = out
        return record
    record["out_requires_grad"] = bool(out.requires_grad)
    if out.requires_grad:
        (out * x["g"]).sum().backward()
    grad = table.grad
    if grad is not None:
        grad = from_layout(grad.to_dense() if grad.is_sparse else grad, layout,
                           case["max_len"], case["d"])
    record["grad"] = grad
    return record


def row_span(rows: list[int]) -> str:
    if not rows:
        return "no rows"
    if rows == list(range(rows[0], rows[-1] + 1)):
        return f"rows {rows[0]}..{rows[-1]}" if len(rows) > 1 else f"row {rows[0]}"
    shown = ", ".join(map(str, rows[:8]))
    return f"rows {shown}" + (", ..." if len(rows) > 8 else "")


@run_gradient.judge
def judge_gradient(ctx, x, case, out):
    if "signature" in out:
        raise Fail(out["signature"], ["api.signature_mismatch"])
    if not out.get("found_table"):
        raise param_problem(out["params"], case) or Fail(
            "could not find the (max_len, d_model) table", ["output.mismatch"])
    if not out["requires_grad"]:
        raise param_problem(out["params"], case) or Fail(
            "the table does not require grad: it is never trained", ["learnable.frozen"])
    if "out_requires_grad" not in out:
        expect_output(out["out"], forward_text(case), x["x"], ctx)
    offset, L, max_len = case["offset"], case["L"], case["max_len"]
    what = f"{forward_text(case)} with L={L}"
    if not out["out_requires_grad"] or out["grad"] is None:
        raise Fail(f"no gradient reaches the table through {what}: the output is cut off from "
                   "it (.detach(), .data, torch.no_grad(), or a copy of the table)", [DETACHED])
    grad = expect_tensor(out["grad"], "table.grad", shape=(max_len, case["d"])).double()
    want = torch.zeros(max_len, case["d"], dtype=torch.float64)
    want[offset:offset + L] = x["g"].double().sum(dim=0)
    reached = [int(r) for r in (grad != 0).any(dim=1).nonzero().flatten()]
    if reached != list(range(offset, offset + L)):
        codes = ["output.mismatch"]
        if offset and reached == list(range(L)):
            codes = ["learnable.offset_ignored"]
        raise Fail(f"after {what} the gradient reaches {row_span(reached)} of the table; "
                   f"expected {row_span(list(range(offset, offset + L)))}", codes,
                   heatmap=heatmap(grad, want))
    # The learner's float32 sum over the batch, in any order.
    atol = 2.0**-20 * case["B"] * float(x["g"].abs().max())
    assert_close(grad, want, atol=atol, what="d(sum(out * g))/d(table)")


@GRADER.check("learnable.deterministic", "Two calls give the same output", level="extra",
              cases=[dict(B=2, L=8, d=16, max_len=32)], inputs=inputs, needs=NEEDS)
def run_twice(env, x, case):
    # The learner's own initialisation: a table rebuilt in forward is redrawn.
    module, _, _, record = prepared(env, x, case, write=False)
    if "signature" not in record:
        record["out"] = (module(x["x"]), module(x["x"]))
    return record


@run_twice.judge
def judge_twice(ctx, x, case, out):
    if "signature" in out:
        raise Fail(out["signature"], ["api.signature_mismatch"])
    first = expect_output(out["out"][0], "first forward(x)", x["x"], ctx, dtype=False)
    second = expect_output(out["out"][1], "second forward(x)", x["x"], ctx, dtype=False)
    if not torch.equal(first.nan_to_num(), second.nan_to_num()):
        if not any(p[3] == "parameter" for p in out["params"]):
            raise Fail("two calls of forward(x) give different outputs: the table is rebuilt "
                       "on every call instead of being created once in __init__",
                       ["learnable.unregistered_parameter"])
        raise Fail("two calls of forward(x) give different outputs (randomness such as "
                   "dropout, or state changed in forward)", ["output.mismatch"])


@GRADER.check("learnable.low_precision",
              "bfloat16/float16 x: same dtype, within one rounding of x + table",
              level="extra", cases=LOW_CASES, inputs=inputs, needs=NEEDS)
def run_low(env, x, case):
    module, table, _, record = prepared(env, x, case)
    if table is not None:
        record["out"] = call(module, x["x"], 0)
    return record


@run_low.judge
def judge_low(ctx, x, case, out):
    got = forward_output(out, f"forward(x) for {case['dtype']} x", x["x"], ctx, case)
    got = got.to("cpu", torch.float64)  # the bound below is computed on the CPU
    want = ctx.ref.add_positions(x["x"], x["table"], 0).cpu()
    # Rounding the table to x's dtype and then the sum costs at most u(|P| + |x + P|).
    scale = x["x"].to("cpu", torch.float64).abs() + \
        x["table"].to("cpu", torch.float64)[:case["L"]].abs()
    allowed = 2 * ROUNDING[case["dtype"]] * scale + 2.0**-24
    excess = (got - want).abs() - allowed
    if (excess > 0).any():
        flat = int(excess.reshape(-1).argmax())
        index = unravel(flat, got.shape)
        raise Fail(f"x + table[:L] in {case['dtype']}: at {index} yours {got[tuple(index)]:.6g}, "
                   f"expected {want[tuple(index)]:.6g} (more than one rounding off)",
                   ["output.mismatch"], heatmap=heatmap(got, want))


# Last: on CUDA an unchecked out-of-range lookup is a device-side assert that
# breaks everything after it.
@GRADER.check("learnable.length_check",
              "offset + L > max_len raises ValueError or IndexError",
              level="extra", cases=TOO_LONG_CASES, inputs=inputs, needs=NEEDS)
def run_too_long(env, x, case):
    module, _, _, record = prepared(env, x, case, offset=case["offset"], write=False)
    if "signature" in record:
        return record
    try:
        record["out"] = call(module, x["x"], case["offset"])
        if env.device.type == "cuda":  # an out-of-range lookup asserts asynchronously
            torch.cuda.synchronize()
    except NotImplementedError:
        raise
    except Exception as exc:  # the learner's error is the answer here
        record["raised"] = [k.__name__ for k in type(exc).__mro__]
        record["message"] = str(exc)[:300]
        record["own_raise"] = raised_by_own_statement(exc, env.mod)
    return record


def raised_by_own_statement(exc: BaseException, mod) -> bool:
    """Whether the innermost frame is a `raise` statement in the learner's file."""
    # traceback's summaries, not the frames: under the guard, frames are refused
    # (drillpe.grading.reach) while learner code can run
    stack = traceback.extract_tb(exc.__traceback__)
    if not stack:
        return False
    path = Path(getattr(mod, "__file__", "") or "")
    try:
        if Path(stack[-1].filename).resolve() != path.resolve():
            return False
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return False
    line = stack[-1].lineno or 0
    return any(isinstance(node, ast.Raise) and node.lineno <= line <= (node.end_lineno or line)
               for node in ast.walk(tree))


def names_numbers(message: str, case) -> bool:
    numbers = {case["max_len"], case["offset"] + case["L"], case["offset"] + case["L"] - 1}
    words = set("".join(c if c.isdigit() else " " for c in message).split())
    return any(str(n) in words for n in numbers)


@run_too_long.judge
def judge_too_long(ctx, x, case, out):
    if "signature" in out:
        raise Fail(out["signature"], ["api.signature_mismatch"])
    first, last = case["offset"], case["offset"] + case["L"] - 1
    call_text = (f"{forward_text(case)} with L={case['L']} (positions {first}..{last}, "
                 f"max_sequence_length {case['max_len']})")
    if "raised" not in out:
        result = out["out"]
        if isinstance(result, ObjectOut) and result.is_module:
            expect_output(result, call_text, x["x"], ctx)
        got = (f"a tensor of shape {list(result.shape)}" if isinstance(result, TensorOut)
               else type_name(result))
        raise Fail(f"{call_text} returned {got} instead of raising ValueError",
                   ["learnable.no_length_check"])
    kind = out["raised"][0]
    said = f"{kind}: {out['message']}" if out["message"] else kind
    # On CUDA torch's own out-of-range lookup is not an IndexError but a device-side
    # assert (a RuntimeError): the same answer as the CPU's IndexError.
    device_assert = "device-side assert" in out["message"] and not out["own_raise"]
    if not ({"ValueError", "IndexError"} & set(out["raised"]) or device_assert):
        raise Fail(f"{call_text} raised {said}; expected your own ValueError or IndexError",
                   ["learnable.no_length_check"])
    if not out["own_raise"]:
        # The contract allows torch's own error; what it costs on a GPU is advice.
        return (f"past the table torch's own {said} is raised: accepted. On a GPU that lookup "
                "is a device-side assert that breaks every CUDA call after it, so a check of "
                "your own before the lookup (ValueError naming the positions and the limit) "
                "is kinder")
    if not names_numbers(out["message"], case):
        raise Fail(f"{call_text} raised {said}; say which positions and which limit, e.g. "
                   f"'positions {first}..{last} exceed max_sequence_length {case['max_len']}'",
                   ["learnable.no_length_check"])
