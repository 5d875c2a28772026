# source: llama.cpp, convert_hf_to_gguf.py (LlamaModel.permute: NumPy reshape(n_head, 2, rows // n_head // 2, ...), swapaxes(1, 2); bf16 tensors upcast to float32 before .numpy())
# expect: pass output.wrong_dtype
# Rewritten to the exercise API. The converter goes from HF's half-split rows back to the
# interleaved layout GGML's Llama RoPE expects (half_split_to_interleaved here); the
# other direction is its inverse reshape. Tensors go through NumPy, which has no
# bfloat16, so anything but float16/float32 comes back as float32.
import numpy as np
import torch


def _to_numpy(w):
    if w.dtype not in (torch.float16, torch.float32):
        w = w.to(torch.float32)
    return w.detach().cpu().numpy()


def _back(arr, like):
    return torch.from_numpy(np.ascontiguousarray(arr)).to(like.device)


def half_split_to_interleaved(w, n_heads, head_dim):
    arr = _to_numpy(w)
    rows = arr.shape[0]
    out = arr.reshape(n_heads, 2, rows // n_heads // 2, *arr.shape[1:]).swapaxes(1, 2)
    return _back(out.reshape(arr.shape).copy(), w)


def interleaved_to_half_split(w, n_heads, head_dim):
    arr = _to_numpy(w)
    rows = arr.shape[0]
    out = arr.reshape(n_heads, rows // n_heads // 2, 2, *arr.shape[1:]).swapaxes(1, 2)
    return _back(out.reshape(arr.shape).copy(), w)
