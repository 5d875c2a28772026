"""`drillpe learn relative`, computed from the reference's public API
(RelativePosition); `python -m drillpe.devtools lessons` writes the result to
exercises/relative/lesson.json."""

import torch


def table_rows(api, length_q, length_k, k):
    """Which table row RelativePosition reads for (query i, key j): with the
    table [[0], [1], ..., [2K]] (its contract name, embeddings_table) each
    looked-up value is its own row number."""
    module = api.RelativePosition(1, k)
    module.load_state_dict({"embeddings_table": torch.arange(2 * k + 1.0)[:, None]})
    return module(length_q, length_k)[..., 0].round().to(torch.int64)


def build(public):
    api = public("relative")
    length, k, (sq, sk, sk_k) = 16, 4, (3, 5, 2)
    small = table_rows(api, sq, sk, sk_k).tolist()
    return {
        "heatmap": {"values": table_rows(api, length, length, k), "lo": 0, "hi": 2 * k,
                    "integer": True},
        "numbers": {"L": str(length), "K": str(k), "top": str(2 * k), "sq": str(sq),
                    "sk": str(sk), "sK": str(sk_k),
                    # query i sits at the key j whose distance is 0 (row K)
                    "pos": ", ".join(str(row.index(sk_k)) for row in small),
                    "small": "\n".join("  " + " ".join(map(str, row)) for row in small)},
    }
