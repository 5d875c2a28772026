"""drillpe 练习：相对位置编码（Shaw et al., 2018）。

自注意力中，每一对 (query i, key j) 还会额外引入一个可学习向量，
按二者截断后的距离选出。共两个模块：

RelativePosition(num_units, max_relative_position)
    self.embeddings_table：形状为 (2K + 1, num_units) 的 nn.Parameter，K = max_relative_position
    .forward(length_q, length_k) -> (length_q, length_k, num_units)

    query i 位于位置 pos_i = i + (length_k - length_q)：query 与 key 的「末尾」
    对齐（与 tensor2tensor 一致；长度相等时 pos_i = i）。于是

        out[i, j] = embeddings_table[clamp(j - pos_i, -K, K) + K]

    超过 K 的距离共用距离 K 的嵌入（要截断，不要越界索引）。

RelativeMultiHeadAttention(d_model, n_heads, max_relative_position=16, dropout=0.0)
    self.linears：由 4 个 nn.Linear(d_model, d_model)（带 bias）组成的 nn.ModuleList，
                  依次为 query、key、value 和输出投影
    self.relative_position_k, self.relative_position_v:
                  RelativePosition(d_model // n_heads, max_relative_position)
    不能有其他参数。（评测程序按这些名字加载自己的权重。）
    .forward(query, key, value, mask=None) -> (batch, length_q, d_model)

    query 为 (batch, length_q, d_model)；key 和 value 为 (batch, length_k, d_model)。
    用 linears[0..2] 分别投影 q、k、v，再拆成 n_heads 个头，每个头
    dh = d_model // n_heads 个通道（第 h 个头的第 c 个通道是 c + h * dh）。
    记 aK = relative_position_k(length_q, length_k)，aV 同理
    （二者都是 (length_q, length_k, dh)，所有头和所有 batch 元素共用）：

        logits[i, j] = (q_i · k_j + q_i · aK[i, j]) / sqrt(dh)
        mask == 0 处 logits[i, j] = -inf   （mask 广播到 (batch, n_heads, Lq, Lk)）
        w = dropout(softmax(logits，沿 j 归一化))
        z_i = sum_j w[i, j] * (v_j + aV[i, j])

    把各头拼接起来，再经过 linears[3]。返回 query 的 dtype，放在 query 所在的
    device 上；batch size 和各长度都从输入读取。

示例（K = 1）
    当 embeddings_table = [[-1.], [0.], [1.]] 时，RelativePosition(1, 1).forward(3, 5)[..., 0] 为
        [[-1., -1.,  0.,  1.,  1.],     （query 0 位于位置 2）
         [-1., -1., -1.,  0.,  1.],
         [-1., -1., -1., -1.,  0.]]
    当 d_model = n_heads = 1，所有 linear 都是恒等映射（weight 1, bias 0），
    relative_position_k 的表为 [[0.], [0.], [1.]]，relative_position_v 的表全为零，
    且 query = key = value = [[[1.], [2.]]] 时，logits 为 [[1, 3], [2, 4]]，
    输出为 [[[1.8808], [1.8808]]]（2 - 1 / (1 + e**2)）。

不要使用 F.scaled_dot_product_attention 或 nn.MultiheadAttention。

与原资料代码的区别
    原资料的 RelativeMultiHeadAttention(d_model, n_heads, dropout=0.1,
    batch_size=6) 改为 (d_model, n_heads, max_relative_position=16,
    dropout=0.0)，forward(query, key, value) 增加了 mask=None。原因：原资料
    用固定的 batch_size 做 reshape（换一个 batch 大小就悄悄算错），把
    K = 16 和 .cuda() 写死（在 CPU 上直接失败），len_k 取自 query（两者长度
    不同时出错），返回 (batch * L, d_model) 而不是 (batch, L, d_model)，还
    调用了未定义的 _get_clones。本题的各个尺寸都从输入读取，K 是参数，
    代码里不写死任何 device，并且可以用 mask 排除 key。dropout 默认为 0，
    这样新建的模块输出是确定的。

完成后运行：drillpe check relative
"""

import math

import torch
from torch import nn


class RelativePosition(nn.Module):
    def __init__(self, num_units: int, max_relative_position: int):
        super().__init__()
        self.num_units = num_units
        self.max_relative_position = max_relative_position
        # 注册 self.embeddings_table：一个 (2K + 1, num_units) 的 nn.Parameter。
        raise NotImplementedError

    def forward(self, length_q: int, length_k: int) -> torch.Tensor:
        """返回 (length_q, length_k, num_units)：每个截断后距离对应的嵌入。"""
        raise NotImplementedError


class RelativeMultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_relative_position: int = 16,
                 dropout: float = 0.0):
        super().__init__()
        self.d_model = d_model
        self.n_heads = n_heads
        self.max_relative_position = max_relative_position
        # 注册 self.linears、self.relative_position_k、self.relative_position_v，
        # 以及作用在注意力权重上的 dropout。
        raise NotImplementedError

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """返回 (batch, length_q, d_model)。"""
        raise NotImplementedError
