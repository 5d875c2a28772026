import torch
from torch import nn


class SinPositionEncoding(nn.Module):
    def __init__(self, max_sequence_length, d_model, base=10000.0)
        super().__init__()
