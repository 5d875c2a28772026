import torch


def interleaved_to_half_split(w, n_heads, head_dim):
    rows, d_model = w.shape
    pairs = w.reshape(n_heads, head_dim // 2, 2, d_model)
    return pairs.transpose(1, 2).reshape(rows, d_model).clone()


def half_split_to_interleaved(w, n_heads, head_dim):
    rows, d_model = w.shape
    halves = w.reshape(n_heads, 2, head_dim // 2, d_model)
    return halves.transpose(1, 2).reshape(rows, d_model).clone()
