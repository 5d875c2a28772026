"""drillpe 练习：正余弦（Sinusoidal）位置编码（Vaswani et al., 2017）。

写出《Attention Is All You Need》中加到 token embedding 上的那张固定 sin/cos 表，
采用「交错」布局（与 HF XLM 的 create_sinusoidal_embeddings 相同）：

    PE[p, 2i]   = sin(p * base ** (-2i / d_model))
    PE[p, 2i+1] = cos(p * base ** (-2i / d_model))

其中位置 p = 0 .. max_sequence_length - 1，通道对下标
i = 0 .. d_model/2 - 1。d_model 为偶数。

API
    SinPositionEncoding(max_sequence_length, d_model, base=10000.0)
    .forward() -> 形状为 (max_sequence_length, d_model) 的张量，dtype 为 float32

注意
    * 要使用 `base` 参数（评测程序会换用其他 base）。
    * 位置从 0 开始：第 0 行是 [0, 1, 0, 1, ...]。
    * 角度至少用 float32 计算；返回 float32。

示例
    >>> SinPositionEncoding(max_sequence_length=3, d_model=4).forward()
    tensor([[ 0.0000,  1.0000,  0.0000,  1.0000],
            [ 0.8415,  0.5403,  0.0100,  0.9999],
            [ 0.9093, -0.4161,  0.0200,  0.9998]])

完成后运行：drillpe check sinusoidal
"""

import torch
from torch import nn


class SinPositionEncoding(nn.Module):
    def __init__(self, max_sequence_length: int, d_model: int, base: float = 10000.0):
        super().__init__()
        self.max_sequence_length = max_sequence_length
        self.d_model = d_model
        self.base = base

    def forward(self) -> torch.Tensor:
        # 返回上面描述的 (max_sequence_length, d_model) float32 编码表。
        raise NotImplementedError
