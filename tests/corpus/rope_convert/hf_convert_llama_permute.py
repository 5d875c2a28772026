# source: Hugging Face transformers, convert_llama_weights_to_hf.py (`permute`: view, transpose(1, 2), reshape); the inverse as written by HF-to-Meta export scripts
# expect: pass rope_convert.aliases_input
# Rewritten to the exercise API: the script's permute(w, n_heads, dim1, dim2) takes the
# row count and the width and derives the head size; k is called with the key/value
# head count. Nothing copies after the reshape, so for head_dim = 2 the result is a
# view of w.
def _permute(w, n_heads, dim1, dim2):
    return w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)


def _unpermute(w, n_heads, dim1, dim2):
    return w.view(n_heads, 2, dim1 // n_heads // 2, dim2).transpose(1, 2).reshape(dim1, dim2)


def interleaved_to_half_split(w, n_heads, head_dim):
    dim1, dim2 = w.shape
    return _permute(w, n_heads, dim1, dim2)


def half_split_to_interleaved(w, n_heads, head_dim):
    dim1, dim2 = w.shape
    return _unpermute(w, n_heads, dim1, dim2)
