"""The production sinusoidal position table that `drillpe bench sinusoidal`
times yours against.

Hidden from learner code like the oracles (bundle.fast_dir()); the grading
reference stays float64. The table depends on (length, d_model, base) alone,
so a serving stack builds it once and keeps it (the PyTorch Transformer
tutorial and the Annotated Transformer register it as a buffer; fairseq
keeps it and rebuilds it only for a longer sequence):

- it is built once per (length, d_model, base) for the whole process, in
  float64 (angles p·w_i reach thousands of radians, where float32 angles are
  off by ~1e-4) and written as float32 through strided views of one
  (L, d/2, 2) tensor: sin into [..., 0], cos into [..., 1], no interleaving cat;
- each module holds it as a non-persistent buffer, so `.to(device)` moves it
  once and a checkpoint does not carry it; forward returns the buffer.

The call therefore moves no memory at all, which is why the learner's code,
which builds the table on every call, compares so badly: the comparison is
with the practice, not with a kernel. The table is shared and read-only:
a caller that writes into the returned tensor writes into every module's copy
on that device (as with any buffer). Building it costs two transcendental
passes in float64 and a cast, once.
"""

import torch
from torch import nn

_TABLES: dict = {}


def table(length: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """(length, d_model) float32 on the CPU, PE[p, 2i] = sin(p w_i),
    PE[p, 2i+1] = cos(p w_i), built once per (length, d_model, base)."""
    key = (length, d_model, float(base))
    found = _TABLES.get(key)
    if found is None:
        w = float(base) ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
        angles = torch.arange(length, dtype=torch.float64)[:, None] * w
        found = torch.empty(length, d_model // 2, 2, dtype=torch.float32)
        torch.sin(angles, out=found[..., 0])  # out= into a float32 view: one cast per write
        torch.cos(angles, out=found[..., 1])
        found = found.view(length, d_model)
        _TABLES[key] = found
    return found


class SinPositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int, base: float = 10000.0):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.d_model = d_model
        self.base = base
        self.register_buffer("pe", table(max_sequence_length, d_model, base), persistent=False)

    def forward(self) -> torch.Tensor:
        return self.pe
