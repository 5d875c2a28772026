"""Oracle for `t5_bias`: what the judge compares with, hidden from learner
code like solutions/ (graders/t5_bias.py receives it as ``ctx.ref``).

`bucket_model` is the model answer's `relative_position_bucket` restated with
switches that reproduce the common mistakes, and with the log bucket's nudge
as an argument: the grader passes nudge = -1e-5 and +1e-5 to get the two
buckets it accepts at a tie. With the defaults it gives the model's buckets
(tests/test_reference_t5_bias.py pins the two equal).
"""

import math

import torch

from drillpe.grading.common import load_solution, rows_of

model = load_solution("t5_bias")
NUDGE = model.NUDGE


def bucket_model(relative_position: torch.Tensor, bidirectional: bool = True,
                 num_buckets: int = 32, max_distance: int = 128, *, nudge: float = NUDGE,
                 sign: int = 1, halve: str = "bidirectional", offset: str = "positive",
                 future: str = "zero", exact_from: str = "half", log_of: str = "ratio",
                 rounding: str = "floor", clamp: bool = True) -> torch.Tensor:
    """int64 buckets of `relative_position` (memory - query), same shape and device.

    The defaults are the reference; each switch is one known mistake:
      sign=-1                 query - memory instead of memory - query
      halve="never"/"always"  num_buckets halved never / even when unidirectional
      offset="none"           no +half for r > 0; "non_negative": for r >= 0 too;
                              "full": r > 0 gets +num_buckets (the un-halved count)
      future="abs"            unidirectional with n = |r| (future keys not in bucket 0)
      future="negative"       unidirectional with n = -r unclamped (future keys negative)
      exact_from="full"       max_exact = num_buckets // 2 before halving
      log_of="max_distance"   log(n / max_exact) / log(max_distance) (the ratio forgotten)
      rounding="round"/"ceil" the log bucket rounded or ceiled instead of truncated
      clamp=False             no clamp to the last bucket
    """
    r = relative_position.to(torch.int64) * sign
    half = num_buckets
    if halve == "always" or (halve == "bidirectional" and bidirectional):
        half = num_buckets // 2
    base = torch.zeros_like(r)
    if bidirectional:
        added = {"positive": r > 0, "non_negative": r >= 0, "none": torch.zeros_like(r) > 0,
                 "full": r > 0}[offset]
        base = added.to(torch.int64) * (num_buckets if offset == "full" else half)
        n = r.abs()
    else:
        n = {"abs": r.abs(), "negative": -r}.get(future, (-r).clamp(min=0))
    max_exact = (num_buckets if exact_from == "full" else half) // 2
    denominator = math.log(max_distance / max_exact if log_of == "ratio" else max_distance)
    # n = 0 gives log(0) = -inf; those entries take the exact branch below.
    real = max_exact + torch.log(n.to(torch.float64) / max_exact) / denominator * (
        half - max_exact)
    real = real + nudge
    rounded = {"floor": torch.floor, "round": torch.round, "ceil": torch.ceil}[rounding](real)
    large = rounded.nan_to_num(neginf=0.0).to(torch.int64)
    if clamp:
        large = large.clamp(max=half - 1)
    return base + torch.where(n < max_exact, n, large)


def relative_positions(length_q: int, length_k: int, *, device=None,
                       end_aligned: bool = False) -> torch.Tensor:
    """(length_q, length_k) int64 memory - query, both starting at position 0 (as
    HF compute_bias). `end_aligned` places query i at i + length_k - length_q
    instead (what `relative` and `alibi` do; a mistake here)."""
    shift = length_k - length_q if end_aligned else 0
    query = torch.arange(length_q, device=device)[:, None] + shift
    memory = torch.arange(length_k, device=device)[None, :]
    return memory - query


def lookup(table: torch.Tensor, buckets: torch.Tensor) -> torch.Tensor:
    """(1, n_heads, Lq, Lk): table (num_buckets, n_heads) rows at (Lq, Lk) buckets.

    A bucket past the table (a mistake's buckets, clamp=False) is an IndexError on
    every device, checked on the host: on CUDA the lookup would be a device-side
    assert that ends the judge's use of the GPU."""
    return rows_of(table, buckets).permute(2, 0, 1).unsqueeze(0)
