"""Oracle for `relative`: what the judge compares with, hidden from learner
code like solutions/ (graders/relative.py receives it as ``ctx.ref``).

The model answer (solutions/relative.py) restated as functions of the
weights, in float64, with switches that reproduce the common mistakes: the
distance's sign, start-aligned queries, no clipping, a missing key or value
term, the scale, an inverted mask. The defaults give the model's values
(tests/test_reference_relative.py pins the two equal).
"""

import math

import torch
import torch.nn.functional as F

from drillpe.grading.common import rows_of


def relative_index(length_q: int, length_k: int, max_relative_position: int, *, device=None,
                   sign: int = 1, end_aligned: bool = True, clip: bool = True) -> torch.Tensor:
    """(length_q, length_k) int64 rows into the table: clamp(j - pos_i, -K, K) + K.

    Query i sits at pos_i = i + (length_k - length_q). Without `clip` the raw
    index is returned: negative values wrap and large ones raise when used,
    exactly what an unclipped lookup does.
    """
    k = max_relative_position
    shift = length_k - length_q if end_aligned else 0
    pos_q = torch.arange(length_q, device=device) + shift
    distance = (torch.arange(length_k, device=device)[None, :] - pos_q[:, None]) * sign
    if clip:
        distance = distance.clamp(-k, k)
    return distance + k


def relative_attention(query, key, value, weights: dict, n_heads: int,
                       max_relative_position: int, mask=None, *, dropout=None, sign: int = 1,
                       end_aligned: bool = True, clip: bool = True, key_term: bool = True,
                       value_term: bool = True, scale: str = "all",
                       invert_mask: bool = False, heads: str = "right",
                       value_table: str = "v") -> torch.Tensor:
    """Shaw et al. multi-head attention in float64; returns (batch, length_q, d_model).

    `weights` maps the module's state_dict names (linears.{0..3}.{weight,bias},
    relative_position_{k,v}.embeddings_table) to tensors. `scale` is "all"
    (the reference), "content" (only q·k divided by sqrt(dh)) or "none".
    `heads` is "right", or where the heads are split or merged by a bare
    reshape without the transpose: "split" ((B, L, d) viewed as (B, H, L, dh)),
    "merge" ((B, H, L, dh) viewed as (B, L, d)) or "both". `value_table` "k"
    takes aV from the key table.
    """
    f64 = torch.float64
    batch, length_q, d_model = query.shape
    length_k = key.shape[1]
    head_dim = d_model // n_heads

    def project(i, x):
        return F.linear(x.to(f64), weights[f"linears.{i}.weight"].to(f64),
                        weights[f"linears.{i}.bias"].to(f64))

    def split(x):  # (B, L, d) -> (B, H, L, dh)
        if heads in ("split", "both"):
            return x.reshape(batch, n_heads, -1, head_dim)
        return x.reshape(batch, -1, n_heads, head_dim).transpose(1, 2)

    q, k, v = split(project(0, query)), split(project(1, key)), split(project(2, value))
    index = relative_index(length_q, length_k, max_relative_position, device=query.device,
                           sign=sign, end_aligned=end_aligned, clip=clip)
    a_k = rows_of(weights["relative_position_k.embeddings_table"].to(f64), index)  # (Lq, Lk, dh)
    a_v = rows_of(weights[f"relative_position_{value_table}.embeddings_table"].to(f64), index)

    content = q @ k.transpose(-1, -2)
    position = torch.einsum("bhid,ijd->bhij", q, a_k) if key_term else torch.zeros_like(content)
    root = math.sqrt(head_dim)
    if scale == "all":
        logits = (content + position) / root
    elif scale == "content":
        logits = content / root + position
    elif scale == "none":
        logits = content + position
    else:
        raise ValueError(f"unknown scale {scale!r}")
    if mask is not None:
        masked = (mask != 0) if invert_mask else (mask == 0)
        logits = logits.masked_fill(masked, float("-inf"))
    attn = torch.softmax(logits, dim=-1)
    if dropout is not None:
        attn = dropout(attn)
    z = attn @ v
    if value_term:
        z = z + torch.einsum("bhij,ijd->bhid", attn, a_v)
    if heads in ("merge", "both"):
        z = z.reshape(batch, length_q, d_model)
    else:
        z = z.transpose(1, 2).reshape(batch, length_q, d_model)
    return project(3, z)
