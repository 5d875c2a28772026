"""drillpe 练习：T5 的分桶相对位置偏置（Raffel et al. 2020）。

T5 不给 token 加任何位置向量，而是给每个注意力 logit 加上一个可学习的标量：
每个头一个，由 query 与 key 之间的距离决定。近距离各占一个桶；远距离
共用按对数变宽的桶，max_distance 及更远的距离全部落在最后一个桶里。
这就是 HF transformers 中的 T5Attention._relative_position_bucket 和 compute_bias。

相对位置 r = memory - query = key 的位置 - query 的位置
（r > 0：key 在 query 之后）。r 所在的桶：

    bidirectional:   half = num_buckets // 2; offset = half if r > 0 else 0; n = |r|
    unidirectional:  half = num_buckets;      offset = 0;  n = max(-r, 0)   (r > 0 -> n = 0)
    max_exact = half // 2
    n < max_exact:   bucket = offset + n
    otherwise:       bucket = offset + min(half - 1, max_exact +
                         trunc(log(n / max_exact) / log(max_distance / max_exact) * (half - max_exact)))

API
    relative_position_bucket(relative_position, bidirectional=True, num_buckets=32,
                             max_distance=128) -> Tensor
        relative_position：任意形状的整数张量（memory - query）。
        返回 [0, num_buckets) 内的 int64 桶号，形状和 device 与输入相同。
    T5RelativeBias(n_heads, num_buckets=32, max_distance=128, bidirectional=True)
        self.relative_attention_bias = nn.Embedding(num_buckets, n_heads)
        （评测程序会把自己的权重写进 relative_attention_bias.weight）。
        .forward(length_q, length_k) -> (1, n_heads, length_q, length_k)
            out[0, h, i, j] = relative_attention_bias.weight[bucket(j - i), h]
            query 和 key 都从位置 0 开始（不做末尾对齐，length_q != length_k 时也一样）。
            dtype 为 float32（即 embedding 的 dtype），放在模块所在的 device 上。

注意
    * 对数桶向零截断（.long() 或 floor 均可；这一分支的值不会是负数）。对数桶在数学上
      恰好是整数的地方（默认参数下 n = 16、32、64），浮点舍入可能落在任一侧：
      两个结果都算对。
    * n = 0 时 log(0) = -inf：只要 torch.where 选的是精确分支就没问题。
    * 在权重表所在的 device 上构造位置（self.relative_attention_bias.weight.device）。

示例（默认参数：bidirectional，32 个桶，max_distance 128：half = 16，max_exact = 8）
    >>> relative_position_bucket(torch.tensor([0, -1, 1, -7, -8, -12, -127, -128, -1000, 1000]))
    tensor([ 0,  1, 17,  7,  8,  9, 15, 15, 15, 31])
    # r = -12：n = 12 >= 8，所以是 8 + trunc(log(12/8) / log(128/8) * 8) = 8 + trunc(1.17) = 9
    # r = 1000：偏移 16 + 这一半的最后一个桶 15 = 31
    >>> relative_position_bucket(torch.tensor([5, -5, -16, -20]), bidirectional=False)
    tensor([ 0,  5, 16, 17])
    # unidirectional：half = 32，max_exact = 16；r = 5 是未来的 key：桶 0

完成后运行：drillpe check t5_bias
"""

import math  # noqa: F401  （用于对数比值）

import torch
from torch import nn


def relative_position_bucket(relative_position, bidirectional=True, num_buckets=32,
                             max_distance=128):
    # 把每个 r = memory - query 映射到它的 int64 桶号（形状和 device 不变）。
    raise NotImplementedError


class T5RelativeBias(nn.Module):
    def __init__(self, n_heads, num_buckets=32, max_distance=128, bidirectional=True):
        super().__init__()
        self.n_heads = n_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional
        # 注册 self.relative_attention_bias = nn.Embedding(num_buckets, n_heads)。
        raise NotImplementedError

    def forward(self, length_q, length_k):
        # 返回 (1, n_heads, length_q, length_k) 的偏置：table[bucket(j - i)]，head 维在前。
        raise NotImplementedError
