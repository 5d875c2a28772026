# source: llama-to-GPT-style ports that convert with einops `rearrange(w, '(h d two) n -> (h two d) n', two=2)`, spelled here as an explicit index list
# expect: pass
# Rewritten without einops: the pattern splits each head's rows into (d, two) and reads
# them back as (two, d), which is the gather below; the inverse reads (two, d) as (d, two).
import torch


def _pattern(n_heads, head_dim, device, inverse):
    h, d, two = n_heads, head_dim // 2, 2
    if not inverse:  # output (h, two, d) reads input (h, d, two)
        idx = [a * head_dim + c * two + b for a in range(h) for b in range(two) for c in range(d)]
    else:  # output (h, d, two) reads input (h, two, d)
        idx = [a * head_dim + c * d + b for a in range(h) for b in range(d) for c in range(two)]
    return torch.tensor(idx, dtype=torch.long, device=device)


def interleaved_to_half_split(w, n_heads, head_dim):
    return w.index_select(0, _pattern(n_heads, head_dim, w.device, False))


def half_split_to_interleaved(w, n_heads, head_dim):
    return w.index_select(0, _pattern(n_heads, head_dim, w.device, True))
