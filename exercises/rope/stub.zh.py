"""drillpe 练习：旋转位置编码（RoPE，Su et al. 2021），交错配对。

RoPE 不是给 q 和 k 加上一个向量，而是通过「旋转」 q 和 k 来编码位置。
把每个头的维度 d（head_dim）拆成通道对 (x[2i], x[2i+1])，i = 0 .. d/2 - 1
（交错配对，与 RoFormer 论文和 GPT-J 的 rotate_every_two 相同；不是
GPT-NeoX/HF Llama 的前后对半配对 [x[:d/2] | x[d/2:]]）。
在位置 p（p = 0 .. seq_len - 1），每个通道对旋转角度 p * theta_i：

    theta_i  = 10000 ** (-2i / d)
    y[2i]    = x[2i]   * cos(p theta_i) - x[2i+1] * sin(p theta_i)
    y[2i+1]  = x[2i+1] * cos(p theta_i) + x[2i]   * sin(p theta_i)

位置 0 保持不变，范数保持不变，并且位置 m 处旋转后的 q 与位置 n 处旋转后的 k
的点积只取决于 m - n。

API
    sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device)
        -> 放在 `device` 上的 (batch_size, nums_head, max_len, output_dim) float32 表，
           其中 [..., p, 2i] = sin(p theta_i)，[..., p, 2i+1] = cos(p theta_i)
           （theta_i 中的 d 取 output_dim）。
    RoPE(q, k) -> (q_rotated, k_rotated)
        q, k: (batch, heads, seq_len, head_dim)，seq_len 相同，head_dim 为偶数。
        输出的形状、dtype（包括 bfloat16/float16）和 device 都与输入相同。
    attention(q, k, v, mask=None, dropout=None, use_RoPE=True) -> (output, weights)
        q, k, v: (batch, heads, seq_len, head_dim)。若 use_RoPE，先执行 q, k = RoPE(q, k)。
        weights = softmax(q @ k^T / sqrt(head_dim))，在 key 维（最后一维）上做 softmax，
        其中 mask == 0 的位置被排除（mask 广播到 (batch, heads, L, L)）；
        若给了 dropout，它是一个作用在 weights 上的可调用对象，返回的 weights
        是 dropout 之后的。output = weights @ v。
        dtype 和 device 与输入相同。

注意
    * 角度至少用 float32 计算（位置最大到 2048），然后返回输入的 dtype。
    * 不要写死 batch、heads、长度、head_dim 或 device。
    * 不允许使用 torch.nn.functional.scaled_dot_product_attention 和 nn.MultiheadAttention：
      注意力要自己写。

示例（d = 4, theta = [1, 0.01]）
    >>> q = torch.tensor([[[[1., 2., 3., 4.], [1., 2., 3., 4.]]]])   # 位置 0 和 1
    >>> RoPE(q, q)[0]
    tensor([[[[ 1.0000,  2.0000,  3.0000,  4.0000],
              [-1.1426,  1.9221,  2.9599,  4.0298]]]])
    # 位置 1 的第一个通道对：(1 cos 1 - 2 sin 1, 2 cos 1 + 1 sin 1)

完成后运行：drillpe check rope
"""

import math  # noqa: F401  （用于 1/sqrt(d) 缩放）

import torch


def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
    # 返回放在 `device` 上的 (batch_size, nums_head, max_len, output_dim) sin/cos 表。
    raise NotImplementedError


def RoPE(q, k):
    # 把 q 和 k 的每个通道对 (2i, 2i+1) 旋转 p * theta_i；返回 (q_rotated, k_rotated)。
    raise NotImplementedError


def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
    # 返回 (softmax(q k^T / sqrt(d), masked) [dropout] @ v, weights)；若 use_RoPE，先做 RoPE。
    raise NotImplementedError
