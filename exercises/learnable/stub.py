"""drillpe exercise: learned absolute position embeddings (BERT, GPT-2's `wpe`).

Instead of a fixed sin/cos table, the model *learns* one vector per position:
a trainable table P of shape (max_sequence_length, d_model). This module adds
row p of P to the token embedding at position p:

    out[b, t, :] = x[b, t, :] + P[offset + t, :]     for t = 0 .. seq_len - 1

`offset` is where the sequence starts (0 for a whole sequence; the number of
tokens already cached when decoding one token at a time).

API
    TrainablePositionEncoding(max_sequence_length, d_model)
    .forward(x, offset=0) -> Tensor

    x:       (batch, seq_len, d_model), any floating dtype, any device
    returns: x + P[offset : offset + seq_len], broadcast over the batch;
             same shape, dtype and device as x

Rules
    * The module owns exactly ONE trainable parameter, of shape
      (max_sequence_length, d_model), created in __init__ (an nn.Embedding's
      weight or an nn.Parameter), so module.parameters() yields it and an
      optimizer can train it. Any initialisation is fine (BERT draws it from a
      truncated normal with std 0.02): the grader writes its own values into
      the table before comparing.
    * Keep the table trainable (not a buffer, not requires_grad=False), and let
      gradients reach it: no .detach(), .data or torch.no_grad() in forward.
    * Just the addition: no dropout, no LayerNorm, no scaling of x.
    * If offset + seq_len > max_sequence_length, raise ValueError (or IndexError)
      yourself, with a message that gives the numbers, e.g.
      "positions 10..17 exceed max_sequence_length 16". Do not rely on torch's
      own indexing error: on a GPU it is a device-side assert, not an exception.
    * Return x's dtype: for bfloat16/float16 x, cast the rows to x.dtype.

Example
    >>> pe = TrainablePositionEncoding(max_sequence_length=4, d_model=2)
    >>> with torch.no_grad():   # pretend these were learned
    ...     next(pe.parameters()).copy_(torch.tensor(
    ...         [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]]))
    >>> pe(torch.zeros(1, 2, 2), offset=1)
    tensor([[[0.3000, 0.4000],
             [0.5000, 0.6000]]], grad_fn=<AddBackward0>)
    >>> pe(torch.zeros(1, 2, 2), offset=3)     # rows 3..4: row 4 does not exist
    ValueError: ...

What changed from the seed's code
    The seed's forward() takes no input: each call builds a new, zero-filled
    nn.Embedding (with the deprecated nn.init.constant) and returns the layer.
    Nothing is registered, so an optimizer never sees the table and every call
    starts from scratch. Here the table is created once in __init__, and
    forward(x, offset=0) returns the tensor x + P[offset : offset + seq_len];
    offset is what decoding with a KV cache needs.

Check it with:  drillpe check learnable
"""

import torch
from torch import nn


class TrainablePositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.d_model = d_model
        # Create the trainable (max_sequence_length, d_model) table here.
        raise NotImplementedError

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        # Return x + rows offset .. offset + seq_len - 1 of the table.
        raise NotImplementedError
