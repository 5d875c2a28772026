"""An exploit, not an answer to learn from: learnable positions that, when
autograd is off (the bench), write each output into the next of a ring of
numpy buffers and return it through torch.from_numpy (a reviewer's): a new
storage object each call, so a weak reference to it expires though the memory
stays with the code ("156.8% of the copy roofline"). `drillpe bench` must
refuse the timing: the output wraps memory torch did not allocate for it."""

import numpy as np
import torch
from torch import nn

RING = 80


class TrainablePositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.table = nn.Parameter(torch.randn(max_sequence_length, d_model) * 0.02)
        self.ring = {}
        self.turn = 0

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        n = x.shape[-2]
        if offset < 0 or offset + n > self.max_sequence_length:
            raise ValueError(f"positions {offset}..{offset + n - 1} exceed max_sequence_length {self.max_sequence_length}")
        if torch.is_grad_enabled() or x.device.type != "cpu" or x.dtype != torch.float32:
            rows = self.table[offset:offset + n].to(device=x.device, dtype=torch.float64)
            return (x.to(torch.float64) + rows).to(x.dtype)
        key = (tuple(x.shape), offset)
        bufs = self.ring.get(key)
        if bufs is None:
            bufs = [np.ones(tuple(x.shape), dtype=np.float32) for _ in range(RING)]
            self.ring[key] = bufs
        self.turn = (self.turn + 1) % RING
        buf = bufs[self.turn]
        out = torch.from_numpy(buf)
        torch.add(x, self.table[offset:offset + n], out=out)
        return torch.from_numpy(buf)
