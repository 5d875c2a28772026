"""An exploit, not an answer to learn from: learnable positions whose output,
when autograd is off (the bench), is written into the next of a ring of
buffers made in advance (a reviewer's): memory made once is faster to write
than the fresh memory each call needs, and it read 250% of a plain copy. A
caller's earlier result changes under it. Grading does not notice; `drillpe
bench` must refuse the timing: the outputs live on after the bench lets go."""

import torch
from torch import nn

RING = 200
_RINGS = {}


def _buffer(x):
    key = (tuple(x.shape), x.dtype, str(x.device))
    ring = _RINGS.get(key)
    if ring is None:
        ring = _RINGS[key] = [0, [torch.zeros(x.shape, dtype=x.dtype, device=x.device)
                                  for _ in range(RING)]]
    ring[0] = (ring[0] + 1) % RING
    return ring[1][ring[0]]


class TrainablePositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.d_model = d_model
        self.table = nn.Parameter(torch.empty(max_sequence_length, d_model))
        nn.init.normal_(self.table, mean=0.0, std=0.02)

    def forward(self, x, offset=0):
        seq_len = x.shape[-2]
        if offset < 0 or offset + seq_len > self.max_sequence_length:
            raise ValueError(f"positions {offset}..{offset + seq_len - 1} do not fit in "
                             f"max_sequence_length {self.max_sequence_length}")
        rows = self.table[offset:offset + seq_len]
        if x.dtype != torch.float32 or rows.dtype != torch.float32:
            return (x.to(torch.float64) + rows.to(device=x.device, dtype=torch.float64)).to(x.dtype)
        if torch.is_grad_enabled():
            return x + rows
        out = _buffer(x)
        torch.add(x, rows, out=out)
        return out
