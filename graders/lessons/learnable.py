"""`drillpe learn learnable`, computed from the reference's public API
(TrainablePositionEncoding); `python -m drillpe.devtools lessons` writes the
result to exercises/learnable/lesson.json."""

import torch


def build(public):
    api = public("learnable")
    seq_len, offset, max_len, d_model = 8, 6, 24, 16
    late = max_len - seq_len // 2  # an offset that runs past the end of the table
    module = api.TrainablePositionEncoding(max_len, d_model)  # a random table P
    # Adding P to zeros reads P out: all of it at offset 0, and the rows the
    # lookup takes at `offset`. Which row position t reads is found by
    # comparing the rows (the random rows are all different).
    table = module(torch.zeros(1, max_len, d_model))[0]
    read = module(torch.zeros(1, seq_len, d_model), offset)[0]
    rows = (read[:, None, :] == table[None, :, :]).all(-1).to(torch.float64)  # (L, max_len)
    assert (rows.sum(-1) == 1).all(), "each position reads exactly one row"
    read_at = rows.argmax(-1).tolist()
    try:
        module(torch.zeros(1, seq_len, d_model), late)
        raise AssertionError(f"offset {late} should not fit")
    except ValueError:
        pass  # the example says so
    return {
        "heatmap": {"values": rows, "lo": 0.0, "hi": 1.0},
        "numbers": {"L": str(seq_len), "offset": str(offset), "max_len": str(max_len),
                    "first": str(read_at[0]), "last": str(read_at[-1]),
                    "last_t": str(seq_len - 1), "late": str(late),
                    "late_last": str(late + seq_len - 1)},
    }
