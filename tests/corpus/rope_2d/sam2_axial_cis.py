# expect: fail rope_2d.axes_swapped
# source: Meta SAM 2, sam2/modeling/position_encoding.py (compute_axial_cis,
#   apply_rotary_enc): complex 2-D RoPE with theta ** (-arange(0, dim, 4) / dim) per
#   axis and interleaved pairs, but the x (column) frequencies come first and the y
#   (row) ones second: cat([cis_x, cis_y]). Ported with the given rows/cols in place of
#   SAM 2's t % end_x, t // end_x; the axis order is kept, so it is named
#   rope_2d.axes_swapped.
import torch


def compute_axial_cis(dim, t_x, t_y, theta=10000.0):
    freqs_x = 1.0 / (theta ** (torch.arange(0, dim, 4, device=t_x.device)[: dim // 4].float()
                               / dim))
    freqs_y = 1.0 / (theta ** (torch.arange(0, dim, 4, device=t_y.device)[: dim // 4].float()
                               / dim))
    freqs_x = torch.outer(t_x, freqs_x)
    freqs_y = torch.outer(t_y, freqs_y)
    freqs_cis_x = torch.polar(torch.ones_like(freqs_x), freqs_x)
    freqs_cis_y = torch.polar(torch.ones_like(freqs_y), freqs_y)
    return torch.cat([freqs_cis_x, freqs_cis_y], dim=-1)


def apply_rope_2d(x, rows, cols, base=10000.0):
    t_x = cols.to(x.device).float()
    t_y = rows.to(x.device).float()
    freqs_cis = compute_axial_cis(x.shape[-1], t_x, t_y, theta=base)
    x_ = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    out = torch.view_as_real(x_ * freqs_cis).flatten(-2)
    return out.type_as(x)
