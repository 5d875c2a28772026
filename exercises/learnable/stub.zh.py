"""drillpe 练习：可学习的绝对位置编码（BERT、GPT-2 的 `wpe`）。

不用固定的 sin/cos 表，而是让模型为每个位置「学习」一个向量：
一张形状为 (max_sequence_length, d_model) 的可训练表 P。这个位置编码模块把 P 的第 p 行
加到位置 p 的 token embedding 上：

    out[b, t, :] = x[b, t, :] + P[offset + t, :]     for t = 0 .. seq_len - 1

`offset` 是序列的起始位置（整段序列时为 0；逐个 token 解码时，
为已缓存的 token 数）。

API
    TrainablePositionEncoding(max_sequence_length, d_model)
    .forward(x, offset=0) -> Tensor

    x:       (batch, seq_len, d_model)，任意浮点 dtype，任意 device
    returns: x + P[offset : offset + seq_len]，在 batch 维上广播；
             形状、dtype 和 device 都与 x 相同

规则
    * 模块只持有恰好一个可训练参数，形状为 (max_sequence_length, d_model)，
      在 __init__ 中创建（nn.Embedding 的 weight 或一个 nn.Parameter），
      这样 module.parameters() 能返回它，优化器才能训练它。初始化方式随意
      （BERT 用标准差 0.02 的截断正态分布）：评测程序在比较之前会往表里写入自己的数值。
    * 表要保持可训练（不能是 buffer，也不能 requires_grad=False），并且要让
      梯度能传到它：forward 里不要用 .detach()、.data 或 torch.no_grad()。
    * 只做加法：不加 dropout，不加 LayerNorm，也不缩放 x。
    * 若 offset + seq_len > max_sequence_length，要自己抛出 ValueError（或 IndexError），
      错误信息里给出具体数字，例如
      "positions 10..17 exceed max_sequence_length 16"。不要依赖 torch
      自身的索引错误：在 GPU 上那是 device-side assert，而不是异常。
    * 返回 x 的 dtype：x 为 bfloat16/float16 时，把取出的行转成 x.dtype。

示例
    >>> pe = TrainablePositionEncoding(max_sequence_length=4, d_model=2)
    >>> with torch.no_grad():   # 假装这些值是学出来的
    ...     next(pe.parameters()).copy_(torch.tensor(
    ...         [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]]))
    >>> pe(torch.zeros(1, 2, 2), offset=1)
    tensor([[[0.3000, 0.4000],
             [0.5000, 0.6000]]], grad_fn=<AddBackward0>)
    >>> pe(torch.zeros(1, 2, 2), offset=3)     # 第 3..4 行：第 4 行不存在
    ValueError: ...

与原资料代码的区别
    原资料的 forward() 不接受输入：每次调用都新建一个全零的 nn.Embedding
    （用已弃用的 nn.init.constant），并返回这个层本身。表没有注册，优化器
    永远看不到它，每次调用都从头开始。本题在 __init__ 中只创建一次表，
    forward(x, offset=0) 返回张量 x + P[offset : offset + seq_len]；
    用 KV cache 解码时需要的正是 offset。

完成后运行：drillpe check learnable
"""

import torch
from torch import nn


class TrainablePositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.d_model = d_model
        # 在这里创建可训练的 (max_sequence_length, d_model) 表。
        raise NotImplementedError

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        # 返回 x + 表中第 offset .. offset + seq_len - 1 行。
        raise NotImplementedError
