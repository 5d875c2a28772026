"""`drillpe learn rope_convert`, computed from the reference's public API
(interleaved_to_half_split, half_split_to_interleaved), with the rope
exercise's interleaved RoPE and rope_neox's half-split RoPE to show one score
before and after; `python -m drillpe.devtools lessons` writes the result to
exercises/rope_convert/lesson.json."""

import math

import torch


def row_order(convert, head_dim):
    """Where each new row of one head comes from: convert the rows numbered 0 .. d-1."""
    rows = torch.arange(head_dim, dtype=torch.float64)[:, None]
    return ", ".join(str(int(v)) for v in convert(rows, 1, head_dim)[:, 0].tolist())


def score(q, k, query, key):
    return float(q[0, 0, query] @ k[0, 0, key]) / math.sqrt(q.shape[-1])


def build(public):
    api, meta, hf = public("rope_convert"), public("rope"), public("rope_neox")
    heads, hd = 2, 8
    # The permutation as a matrix: convert the identity, whose row c is "old row c".
    matrix = api.interleaved_to_half_split(torch.eye(heads * hd, dtype=torch.float64), heads, hd)

    # One head of a tiny layer: d_model = head_dim = 8, positions 0 .. L - 1.
    d_model, length, qi, kj = hd, 6, 5, 2
    x = torch.randn(length, d_model, dtype=torch.float64)
    wq = torch.randn(hd, d_model, dtype=torch.float64) / math.sqrt(d_model)
    wk = torch.randn(hd, d_model, dtype=torch.float64) / math.sqrt(d_model)

    def heads_of(w):  # (1, 1, L, head_dim): one batch row, one head
        return (x @ w.T)[None, None]

    q_meta, k_meta = meta.RoPE(heads_of(wq), heads_of(wk))
    ids = torch.arange(length)

    def half_split(wq_, wk_):
        return hf.apply_rope(heads_of(wq_), ids), hf.apply_rope(heads_of(wk_), ids)

    q_hf, k_hf = half_split(api.interleaved_to_half_split(wq, 1, hd),
                            api.interleaved_to_half_split(wk, 1, hd))
    q_bad, k_bad = half_split(wq, wk)
    return {
        "heatmap": {"values": matrix, "lo": 0, "hi": 1, "integer": True},
        "numbers": {"heads": str(heads), "hd": str(hd), "hd_last": str(hd - 1), "half": str(hd // 2),
                    "forward": row_order(api.interleaved_to_half_split, hd),
                    "backward": row_order(api.half_split_to_interleaved, hd),
                    "qi": str(qi), "kj": str(kj), "d_model": str(d_model),
                    "last": str(length - 1),
                    "score_meta": f"{score(q_meta, k_meta, qi, kj):.6f}",
                    "score_hf": f"{score(q_hf, k_hf, qi, kj):.6f}",
                    "score_wrong": f"{score(q_bad, k_bad, qi, kj):.6f}"},
    }
