"""`drillpe learn alibi`, computed from the reference's public API
(alibi_slopes, alibi_attention); `python -m drillpe.devtools lessons` writes
the result to exercises/alibi/lesson.json."""

import math

import torch


def join(values, spec="g"):
    return ", ".join(format(float(v), spec) for v in values)


def bias_of_head(attention, n_heads, head, length, causal=True):
    """The bias −m·|pos_i − j| that head adds, (length, length), masked cells −inf.
    The API does not return it, so it is read from the attention weights: with
    q = k = 0 the logits are the bias alone, v = I returns the weights
    softmax(bias), and log(w_ij) − log(w_i,pos_i) is the bias again (0 at the
    query's own position, the row's largest). Masked keys get weight 0: −inf."""
    q = torch.zeros(1, n_heads, length, 8, dtype=torch.float64)
    v = torch.eye(length, dtype=torch.float64).expand(1, n_heads, length, length)
    weights = attention(q, q, v, causal=causal)[0, head]
    logs = weights.log()
    return logs - logs.max(-1, keepdim=True).values


def build(public):
    api = public("alibi")
    heads, more, length, query = 8, 12, 16, 3
    slopes, slopes_more = api.alibi_slopes(heads).tolist(), api.alibi_slopes(more).tolist()
    assert slopes_more[:heads] == slopes  # the example says "the 8 above, then ..."
    bias = bias_of_head(api.alibi_attention, heads, 0, length)
    lowest = bias[bias.isfinite()].min().item()
    return {
        "heatmap": {"values": bias, "lo": lowest, "hi": 0.0},
        "numbers": {"L": str(length), "heads": str(heads), "more": str(more),
                    "m": f"{slopes[0]:g}", "slopes": join(slopes, ".3g"),
                    "exps": join([-math.log2(m) for m in slopes]),
                    "extra": join(slopes_more[heads:], ".4g"),
                    "extra_exps": join([-math.log2(m) for m in slopes_more[heads:]]),
                    "qi": str(query), "row": join(bias[query, :query + 1])},
    }
