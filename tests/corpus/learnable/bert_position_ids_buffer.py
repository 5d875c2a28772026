# expect: pass learnable.no_length_check
# source: HF transformers, models/bert/modeling_bert.py (BertEmbeddings): an nn.Embedding
#   of max_position_embeddings rows looked up with a slice of a registered
#   `position_ids` buffer, [past_key_values_length : past_key_values_length + seq_len]
#   (LayerNorm and dropout left out: the exercise is only the addition). BERT never
#   checks the length: past the end the slice is silently short and the addition fails
#   to broadcast, so the extra length check names learnable.no_length_check.
import torch
from torch import nn


class TrainablePositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.d_model = d_model
        self.position_embeddings = nn.Embedding(max_sequence_length, d_model)
        nn.init.normal_(self.position_embeddings.weight, mean=0.0, std=0.02)
        self.register_buffer("position_ids",
                             torch.arange(max_sequence_length).expand((1, -1)),
                             persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        seq_length = x.size(1)
        position_ids = self.position_ids[:, offset: seq_length + offset]
        position_embeddings = self.position_embeddings(position_ids)
        return x + position_embeddings.to(x.dtype)
