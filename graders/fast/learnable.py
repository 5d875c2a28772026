"""The production learned position embedding that `drillpe bench learnable`
times yours against.

Hidden from learner code like the oracles (bundle.fast_dir()); the grading
reference stays float64. There is no table to build: the table is the
learned parameter, and its rows for positions offset .. offset + L - 1 are a
slice, a view that costs nothing. The call is one broadcast add: it reads x
and those rows and writes the output once, the bytes the copy roofline
counts (GPT-2's `wte(ids) + wpe(positions)` minus the gather: the positions
are contiguous, so no index tensor is built).

Where it falls short of one pass: the parameter is float32 (the bench builds
the module and moves it to the device, never to the inputs' dtype), so a
bfloat16/float16 x is added in float32 and cast back, two passes where a
fused kernel (torch.compile, or a model kept wholly in bf16) makes one.
An add with out= in x's dtype measured no better on the CPU (3.5 ms against
3.0 ms for a (4, 2048, 512) bf16 x, one thread), and out= does not take
part in autograd, which a trainable table needs.
"""

import torch
from torch import nn


class TrainablePositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.d_model = d_model
        self.table = nn.Parameter(torch.empty(max_sequence_length, d_model))
        nn.init.normal_(self.table, mean=0.0, std=0.02)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        seq_len = x.shape[-2]
        if offset < 0 or offset + seq_len > self.max_sequence_length:
            raise ValueError(
                f"positions {offset}..{offset + seq_len - 1} (seq_len {seq_len} at offset "
                f"{offset}) do not fit in max_sequence_length {self.max_sequence_length}")
        out = x + self.table[offset:offset + seq_len]
        return out if out.dtype == x.dtype else out.to(x.dtype)
