"""drillpe 练习：带 position ids 的前后对半 RoPE（GPT-NeoX、HF Llama）。

旋转位置编码本身和 `rope` 练习相同，只是换成了大多数模型实际采用的布局：
通道 i 与通道 i + d/2 配对（即每个头的前后两半），而不是与相邻通道配对。
`rotate_half` 把每一对都转 90 度，

    rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2])

于是按角度 p * theta_i 的旋转只需一行：

    y = x * cos + rotate_half(x) * sin

其中 cos 和 sin 把角度表重复两遍，即 cat(freqs, freqs)，使通道 i 和
i + d/2 共用同一个角度 p * theta_i：

    theta_i  = base ** (-2i / d)                     i = 0 .. d/2 - 1
    y[i]       = x[i]       * cos(p theta_i) - x[i + d/2] * sin(p theta_i)
    y[i + d/2] = x[i + d/2] * cos(p theta_i) + x[i]       * sin(p theta_i)

每个 token 的位置 p 来自 `position_ids`，而不是它在序列中的下标：使用 KV cache
解码时，每一步传入的是新 token 的真实位置（例如第 38 个 token 传 [37]），
而经过 padding 的 batch 中，各行的位置也可能各不相同。当 rotary_dim < head_dim
时（GPT-NeoX 的 rotary_pct，HF 中的 partial_rotary_factor），只旋转前 rotary_dim
个通道，theta_i 和前后两半的划分都用 d = rotary_dim；其余通道原样保留。

API
    rotate_half(x) -> cat(-x[..., d/2:], x[..., :d/2])，d = x.shape[-1]（偶数）。
        前面可以有任意多个维度；形状、dtype 和 device 都与 x 相同。
    apply_rope(x, position_ids, base=10000.0, rotary_dim=None) -> Tensor
        x: (batch, heads, seq_len, head_dim)，float32、bfloat16 或 float16。
        position_ids: int64，形状为 (seq_len,)（所有行共用），
                      或 (batch, seq_len)（每行各自的位置）。
        base: theta 的底数（Llama 2 用 10000，Llama 3 用 500000）。
        rotary_dim: 旋转前多少个通道（偶数）；None 表示 head_dim。
        返回按上式旋转后的 x：形状、dtype 和 device 都与 x 相同。

注意
    * 角度 position_ids * theta_i 及其 cos/sin 要用 float32 或更高精度计算，
      最后再转成 x 的 dtype：bfloat16 只有 8 位有效精度（7 位显式尾数），300 附近的角度就已经
      差出大约一弧度。
    * (batch, seq_len) 的 position ids 得到的是 (batch, seq_len, d) 的表：
      先补上 heads 维，变成 (batch, 1, seq_len, d)，再与 x 相乘。
    * 不要原地修改 x，也不要把形状或 device 写死。
    * 这与 rope 练习的旋转只差一个固定的通道置换：取
      P = [0, 2, 4, ..., 1, 3, 5, ...]，则
      apply_rope(x[..., P], ...) == interleaved_rope(x)[..., P]。

示例（d = 4，base 10000：theta = [1, 0.01]；配对为 (x0, x2) 和 (x1, x3)）
    >>> x = torch.tensor([[[[1., 2., 3., 4.], [1., 2., 3., 4.]]]])
    >>> rotate_half(x[0, 0, 0])
    tensor([-3., -4.,  1.,  2.])
    >>> apply_rope(x, torch.tensor([0, 1]))
    tensor([[[[ 1.0000,  2.0000,  3.0000,  4.0000],
              [-1.9841,  1.9599,  2.4624,  4.0198]]]])
    # 位置 1：(x0, x2) = (1, 3) 转 1 弧度：(1 cos 1 - 3 sin 1, 3 cos 1 + 1 sin 1)
    >>> apply_rope(x, torch.tensor([0, 1]), rotary_dim=2)
    tensor([[[[ 1.0000,  2.0000,  3.0000,  4.0000],
              [-1.1426,  1.9221,  3.0000,  4.0000]]]])
    # 只有 (x0, x1) 转了 1 弧度；通道 2 和 3 原样保留

完成后运行：drillpe check rope_neox
"""

import torch


def rotate_half(x):
    # 沿最后一维返回 cat(-x[..., d/2:], x[..., :d/2])。
    raise NotImplementedError


def apply_rope(x, position_ids, base=10000.0, rotary_dim=None):
    # 把 x 的前 rotary_dim 个通道按 position_ids * theta_i 旋转（前后对半配对）。
    raise NotImplementedError
