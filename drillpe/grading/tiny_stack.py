"""A tiny deterministic Llama-shaped attention stack, for `check --consequence`.

What a wrong position encoding does to a model: the same stack runs twice,
once in the learner process with the learner's encoding (``run``) and once in
the judge with the reference's (``compare``), on the same weights and inputs
(drawn from the case's seeded :class:`~drillpe.grading.api.Rand`, so both
processes build identical tensors). The judge compares the two final hidden
states position by position and the first layer's attention by relative
distance, and returns the series the report carries (``consequence``).

The stack: ``LAYERS`` pre-norm blocks (RMSNorm, causal multi-head attention
with the exercise's position encoding, RMSNorm, a SwiGLU MLP), a final
RMSNorm, ``LENGTH`` positions, everything float64. The weights are random
but not shapeless: every position's input shares one content vector and each
head's key projection is close to its query projection, so a query finds
its own content at every key and what decides where a head looks is the
position encoding alone (rotary's decay with distance, ALiBi's slopes).

Nothing here knows an exercise's convention: the encoding comes in as a
function, the learner's or the reference's. Design choices:

* divergence at position p is ``|yours_p - reference_p| / |reference_p|``
  over the final hidden state (relative L2; NaN or inf travels as None);
* attention by relative distance is the first layer's weight of query i on
  key i - δ, averaged over heads and over every query that has such a key;
* the reading is the first position where the divergence passes
  ``THRESHOLD`` (10%).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from drillpe.grading.api import TensorOut, expect_tensor, expect_tuple

LAYERS = 2
D_MODEL = 64
HEADS = 4
HEAD_DIM = D_MODEL // HEADS
D_FF = 128
LENGTH = 256
THRESHOLD = 0.1
CASE = {"layers": LAYERS, "d_model": D_MODEL, "heads": HEADS, "length": LENGTH}

# What an encoding plugs into the stack: q, k, v (1, HEADS, L, HEAD_DIM) ->
# (output like v, the attention weights (1, HEADS, L, L) or None).
Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor],
                  tuple[torch.Tensor, torch.Tensor | None]]


def inputs(case: dict, rand) -> dict:
    """The stack's input and weights, float64, from the case's generator."""
    scale = 1.0 / math.sqrt(D_MODEL)
    content = rand.normal(1, D_MODEL, dtype=torch.float64)
    x = {"embed": content + 0.5 * rand.normal(LENGTH, D_MODEL, dtype=torch.float64)}
    for layer in range(LAYERS):
        wq = rand.normal(D_MODEL, D_MODEL, dtype=torch.float64) * scale * 1.6
        x[f"wq{layer}"] = wq
        x[f"wk{layer}"] = wq + rand.normal(D_MODEL, D_MODEL, dtype=torch.float64) * scale * 0.5
        x[f"wv{layer}"] = rand.normal(D_MODEL, D_MODEL, dtype=torch.float64) * scale
        x[f"wo{layer}"] = rand.normal(D_MODEL, D_MODEL, dtype=torch.float64) * scale * 3.0
        x[f"w1{layer}"] = rand.normal(D_MODEL, D_FF, dtype=torch.float64) * scale
        x[f"w3{layer}"] = rand.normal(D_MODEL, D_FF, dtype=torch.float64) * scale
        x[f"w2{layer}"] = rand.normal(D_FF, D_MODEL, dtype=torch.float64) / math.sqrt(D_FF)
    return x


def rms_norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)


def causal_softmax(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) over keys at or before each query."""
    length = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    future = torch.ones(length, length, dtype=torch.bool, device=q.device).triu(1)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)


def forward(x: dict, attend: Attend) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(final hidden states (L, D_MODEL), the first layer's attention averaged
    over heads (L, L), or None where the encoding gives no weights)."""
    h = x["embed"]
    length = h.shape[0]
    first = None

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(length, HEADS, HEAD_DIM).transpose(0, 1)[None]

    for layer in range(LAYERS):
        n = rms_norm(h)
        q, k, v = (heads(n @ x[f"{w}{layer}"]) for w in ("wq", "wk", "wv"))
        out, weights = attend(q, k, v)
        if layer == 0 and weights is not None:
            first = weights.reshape(HEADS, length, length).to(torch.float64).mean(dim=0)
        h = h + out.to(torch.float64).reshape(HEADS, length, HEAD_DIM).transpose(0, 1) \
            .reshape(length, D_MODEL) @ x[f"wo{layer}"]
        n = rms_norm(h)
        h = h + (torch.nn.functional.silu(n @ x[f"w1{layer}"]) * (n @ x[f"w3{layer}"])) \
            @ x[f"w2{layer}"]
    return rms_norm(h), first


# --------------------------------------------------------------------------
# The exercises' encodings as an Attend


def rotary(rope: Callable) -> Attend:
    """`rope(q, k) -> (q, k)` rotated, then causal attention (exercise rope)."""
    def attend(q, k, v):
        q, k = rope(q, k)
        weights = causal_softmax(q.to(torch.float64), k.to(torch.float64))
        return weights @ v, weights
    return attend


def rotary_ids(apply_rope: Callable) -> Attend:
    """`apply_rope(x, position_ids)` on q and k, then causal attention (rope_neox)."""
    def attend(q, k, v):
        ids = torch.arange(q.shape[-2], device=q.device)[None]
        return rotary(lambda a, b: (apply_rope(a, ids), apply_rope(b, ids)))(q, k, v)
    return attend


def biased(alibi_attention: Callable) -> Attend:
    """`alibi_attention(q, k, v)` is the whole attention (exercise alibi). Its
    weights are what it does to the identity: v = I gives softmax(...) itself
    (a second call; None where that one fails)."""
    def attend(q, k, v):
        out = alibi_attention(q, k, v)
        length = q.shape[-2]
        eye = torch.eye(length, dtype=v.dtype, device=v.device).expand(1, HEADS, length, length)
        try:
            weights = alibi_attention(q, k, eye.contiguous())
            if not isinstance(weights, torch.Tensor) or weights.shape != eye.shape:
                weights = None
        except Exception:  # the learner's code: the hidden states still tell
            weights = None
        return out, weights
    return attend


def run(x: dict, attend: Attend) -> tuple:
    """What the learner process sends: (hidden states, first-layer weights or None)."""
    hidden, first = forward(x, attend)
    return hidden, first


# --------------------------------------------------------------------------
# The judge's side


def by_distance(weights: torch.Tensor) -> list[float]:
    """Mean weight of query i on key i - δ, for δ = 0 .. L-1."""
    length = weights.shape[-1]
    return [float(torch.diagonal(weights, offset=-d).mean()) for d in range(length)]


def _plain(values) -> list[float | None]:
    return [round(v, 8) if math.isfinite(v) else None for v in values]


def compare(x: dict, reference: Attend, hidden: torch.Tensor, weights: torch.Tensor | None
            ) -> dict:
    """The report's ``consequence`` for outputs the judge has checked: the
    divergence per position and attention by distance, yours and the reference's."""
    want, want_weights = forward(x, reference)
    # The reference ran on the grading device; the learner's records arrive on the CPU.
    want = want.cpu()
    want_weights = want_weights.cpu() if want_weights is not None else None
    got = hidden.to("cpu", torch.float64)
    diff = (got - want).norm(dim=-1) / want.norm(dim=-1).clamp_min(1e-12)
    divergence = _plain(diff.tolist())
    above = [p for p, d in enumerate(divergence) if d is None or d > THRESHOLD]
    yours = None
    if weights is not None and bool(torch.isfinite(weights).all()):
        yours = _plain(by_distance(weights.to(torch.float64)))
    finite = [d for d in divergence if d is not None]
    return {
        "status": "ok",
        "stack": dict(CASE),
        "positions": list(range(want.shape[0])),
        "divergence": divergence,
        # None (null) when some position is NaN or inf: no finite number says how far
        "max_divergence": max(finite) if len(finite) == len(divergence) else None,
        "threshold": THRESHOLD,
        "from_position": above[0] if above else None,
        "distances": list(range(want.shape[0])),
        "attention": {"yours": yours, "reference": _plain(by_distance(want_weights))},
    }


def judge(x: dict, reference: Attend, out, what: str) -> dict:
    """A consequence check's judge: the learner's (hidden, weights) checked as
    records, then compared with the reference's stack. ``what`` names the
    learner's call in a failure (Fail: the stack could not be shown)."""
    hidden, weights = expect_tuple(out, 2, "the tiny model")
    hidden = expect_tensor(hidden, f"the tiny model with your {what}",
                           shape=(LENGTH, D_MODEL), finite=False)
    if isinstance(weights, TensorOut) and weights.shape == (LENGTH, LENGTH) and \
            weights.data.is_floating_point():
        weights = weights.data
    else:
        weights = None
    return compare(x, reference, hidden, weights)


def declare(grader, exercise_id: str, name: str, adapt: Callable[[Callable], Attend],
            call: str) -> None:
    """The consequence check of one exercise: the learner's ``name`` and the
    reference's, each made into attention by ``adapt`` (rotary, rotary_ids,
    biased) and run through the same stack; ``call`` names it in messages."""

    def run_it(env, x, case):
        return run(x, adapt(getattr(env.mod, name)))

    def judge_it(ctx, x, case, out):
        model = getattr(ctx.ref, "model", ctx.ref)
        return judge(x, adapt(getattr(model, name)), out, call)

    check = grader.consequence(f"{exercise_id}.consequence", f"Your {name} inside a tiny model",
                               inputs=inputs, needs=(name,))(run_it)
    check.judge(judge_it)
