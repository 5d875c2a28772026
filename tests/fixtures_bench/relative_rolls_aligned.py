"""A reviewer's relative, keyed on how the bench once refilled its inputs (an attack,
not an answer). Every input and weight of a slot was the base value rolled by one
shift over its flat storage and times one factor, and the first (untimed) call got
the base. The first call keeps, per q/k/v projection, prefix sums over channels of
the base input times the base weights; a later call reads three values of x to find
the shift and factor, and since x and the weights were rolled alike their channels
lined up: each projection is two slices of what was kept, the GEMMs skipped ("same"
as production, accepted 6 of 6 at the default size). Strict: once the keyed path has
been taken at the bench's size, a call it is not taken for returns zeros, so a timing
accepted means every checked call skipped the GEMMs. Each tensor is rolled by a shift
of its own now (bench_child.part_shift): the keyed projections are wrong, and the
zeros are refused."""

import math

import torch
import torch.nn.functional as F
from torch import nn

_KEPT = {}

_INDICES: dict = {}


def relative_index(length_q: int, length_k: int, max_relative_position: int,
                   device) -> torch.Tensor:
    """(length_q, length_k) int64 rows into the table, clamp(j - pos_i, -K, K) + K,
    queries aligned to the end of the keys; built once per sizes and device."""
    key = (length_q, length_k, max_relative_position, str(device))
    found = _INDICES.get(key)
    if found is None:
        k = max_relative_position
        pos_q = torch.arange(length_q, device=device) + (length_k - length_q)
        found = (torch.arange(length_k, device=device)[None, :] - pos_q[:, None]).clamp(-k, k) + k
        _INDICES[key] = found
    return found


class RelativePosition(nn.Module):
    def __init__(self, num_units: int, max_relative_position: int):
        super().__init__()
        self.num_units = num_units
        self.max_relative_position = max_relative_position
        self.embeddings_table = nn.Parameter(torch.empty(2 * max_relative_position + 1, num_units))
        nn.init.xavier_uniform_(self.embeddings_table)

    def forward(self, length_q: int, length_k: int) -> torch.Tensor:
        index = relative_index(length_q, length_k, self.max_relative_position,
                               self.embeddings_table.device)
        return F.embedding(index, self.embeddings_table)


class RelativeMultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_relative_position: int = 16,
                 dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.max_relative_position = max_relative_position
        self.linears = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(4))
        self.relative_position_k = RelativePosition(d_model // n_heads, max_relative_position)
        self.relative_position_v = RelativePosition(d_model // n_heads, max_relative_position)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query, key, value, mask=None) -> torch.Tensor:
        batch, length_q, _ = query.shape
        length_k = key.shape[1]
        heads, head_dim = self.n_heads, self.d_model // self.n_heads
        rows = batch * heads

        def split(x, length):  # (B, L, d) -> (B·H, L, dh), the batch axis of bmm
            return x.view(batch, length, heads, head_dim).transpose(1, 2).reshape(
                rows, length, head_dim)

        found = _projections(self, query, key, value, mask)
        if found is None:
            kept = _KEPT.get("base")
            if kept is not None and kept.get("used") and kept["shape"] == tuple(query.shape):
                # strict: at the bench's size, after the first keyed call, a call the
                # keyed path did not take returns zeros (the output check would refuse it)
                return torch.zeros_like(query)
            found = [self.linears[n](x) for n, x in enumerate((query, key, value))]
        elif "base" in _KEPT:
            _KEPT["base"]["used"] = True
        q = split(found[0], length_q)
        k = split(found[1], length_k)
        v = split(found[2], length_k)
        table_k = self.relative_position_k.embeddings_table
        table_v = self.relative_position_v.embeddings_table
        index = relative_index(length_q, length_k, self.max_relative_position, q.device)
        index = index.expand(rows, length_q, length_k)  # a view: stride 0 over B·H

        logits = torch.matmul(q, table_k.t()).gather(-1, index)  # q · a_k[i, j]
        scale = 1.0 / math.sqrt(head_dim)
        logits.baddbmm_(q, k.transpose(1, 2), beta=scale, alpha=scale)
        if mask is not None:
            logits.view(batch, heads, length_q, length_k).masked_fill_(mask == 0, float("-inf"))
        exact = logits.dtype in (torch.float32, torch.float64)
        probs = torch.softmax(logits, dim=-1, dtype=None if exact else torch.float32)
        probs = self.dropout(probs)
        attn = probs if exact else probs.to(q.dtype)
        buckets = probs.new_zeros(rows, length_q, table_v.shape[0]).scatter_add_(-1, index, probs)
        z = torch.bmm(attn, v)
        z.baddbmm_(buckets.to(z.dtype), table_v.expand(rows, *table_v.shape))
        z = z.view(batch, heads, length_q, head_dim).transpose(1, 2).reshape(
            batch, length_q, self.d_model)
        return self.linears[3](z)


def _keep(module, x):
    """The first call's input and the q, k, v weights (the bench's base values): for
    each projection, with P[m][i, j] = sum over channels c < m of x0[i, c] * w0[j, c],
    the full product P[d] and, per m, P[m] moved one row and column on minus P[m];
    rows and columns laid out twice over (any roll is one slice of it)."""
    rows, d = x.shape[0] * x.shape[1], x.shape[2]
    x0 = x.detach().reshape(rows, d).double()
    kept = {"shape": tuple(x.shape), "x0": x.detach().reshape(-1).clone(),
            "w0": [], "b0": [], "P": []}
    for n in range(3):
        w0 = module.linears[n].weight.detach().double()
        b0 = module.linears[n].bias.detach()
        out_f = w0.shape[0]
        prefix = torch.zeros(d + 1, rows, out_f, dtype=torch.float64)
        for c in range(d):  # P[c + 1] = P[c] + outer(x0[:, c], w0[:, c])
            torch.add(prefix[c], torch.outer(x0[:, c], w0[:, c]), out=prefix[c + 1])
        # per r: -P[r] + P[r] moved one row and one column on (the part of the rolled
        # channels that wrapped into the next row), rows and columns twice over
        moved = torch.roll(prefix, (-1, -1), (1, 2)) - prefix
        twice = torch.cat([moved, moved], dim=1)
        planes = torch.cat([twice, twice], dim=2).float().contiguous()
        full = prefix[d].float()
        full = torch.cat([full, full], dim=0)
        full = torch.cat([full, full], dim=1).contiguous()
        del prefix, moved, twice
        kept["w0"].append(module.linears[n].weight.detach().reshape(-1).clone())
        kept["b0"].append(b0.clone())
        kept["P"].append((full, planes))
    flat = kept["x0"].double()
    ratios = torch.roll(flat, -1) / flat
    order = torch.argsort(ratios)
    kept["sorted"], kept["order"], kept["xlist"] = ratios[order].tolist(), order.tolist(), \
        flat.tolist()
    _KEPT["base"] = kept


def _find(kept, x):
    """(cut, f) with x.flat[i] == f * x0.flat[(i + cut) % n], or None."""
    v0, v1, v2 = x.reshape(-1)[:3].tolist()
    if v0 == 0.0:
        return None
    ratio = v1 / v0
    srt, order, xs = kept["sorted"], kept["order"], kept["xlist"]
    n = len(xs)
    lo, hi = 0, len(srt)
    while lo < hi:
        mid = (lo + hi) // 2
        if srt[mid] < ratio:
            lo = mid + 1
        else:
            hi = mid
    for pos in range(max(0, lo - 6), min(len(srt), lo + 6)):
        cut = order[pos]
        b0, b1, b2 = xs[cut], xs[(cut + 1) % n], xs[(cut + 2) % n]
        if b0 == 0.0:
            continue
        f = v0 / b0
        if abs(f * b1 - v1) <= 1e-6 * abs(v1) and abs(f * b2 - v2) <= 1e-6 * abs(v2):
            return cut, f
    return None


def _projections(module, query, key, value, mask):
    """q, k, v projections of a bench input from the kept planes, or None."""
    if not (query is key and key is value and query.dtype == torch.float32
            and query.dim() == 3 and query.is_contiguous() and not torch.is_grad_enabled()):
        return None
    kept = _KEPT.get("base")
    if kept is None:
        if query.numel() >= 4096:
            _keep(module, query)
        return None
    if kept["shape"] != tuple(query.shape):
        return None
    found = _find(kept, query)
    if found is None:
        return None
    cut, f = found
    rows, d = query.shape[0] * query.shape[1], query.shape[2]
    out = []
    for n in range(3):
        lin = module.linears[n]
        w, b = lin.weight, lin.bias
        out_f = w.shape[0]
        if w.shape != (out_f, d) or w.dtype != torch.float32:
            return None
        nw, nb = w.numel(), b.numel()
        w0, b0 = kept["w0"][n], kept["b0"][n]
        for probe in (0, nw // 3, nw - 1):  # the weights are the base rolled the same way
            if abs(float(w.reshape(-1)[probe]) - f * float(w0[(probe + cut) % nw])) > \
                    1e-6 * (abs(float(w.reshape(-1)[probe])) + 1e-30):
                return None
        if abs(float(b[0]) - f * float(b0[cut % nb])) > 1e-6 * (abs(float(b[0])) + 1e-30):
            return None
        big, r = cut // d, cut % d
        small = (cut % nw) // d
        full, planes = kept["P"][n]
        proj = torch.add(full[big:big + rows, small:small + out_f],
                         planes[r, big:big + rows, small:small + out_f])
        proj.mul_(f * f).add_(torch.roll(b0, -r), alpha=f)
        out.append(proj.view(query.shape[0], query.shape[1], out_f))
    return out
