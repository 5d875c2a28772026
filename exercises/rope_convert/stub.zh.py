"""drillpe 练习：Meta 与 Hugging Face 两种 RoPE 约定之间的桥。

Meta 原版 LLaMA 代码旋转的是交错配对的通道对 (2i, 2i+1)（即 `rope` 练习）；
Hugging Face 的 Llama 旋转的是前后对半的通道对 (i, i + head_dim/2)（即
`rope_neox` 练习）。同一个 checkpoint 不能原样同时用于两者，但两种布局只差
每个头内通道的一个固定置换，而 q 和 k 是线性层的输出：把 W_q 和 W_k 的行
一次性置换好，前后对半的 RoPE 就能给出与交错配对的 RoPE 完全相同的注意力分数。

    w 的形状是 (n_heads * head_dim, d_model)，与 nn.Linear(d_model, n_heads * head_dim)
    的存储方式一致：第 h * head_dim + c 行是第 h 个头的第 c 个通道。

    interleaved_to_half_split，在每个头内部：
        新第 i 行            = 旧第 2i 行          i = 0 .. head_dim/2 - 1
        新第 i + head_dim/2 行 = 旧第 2i + 1 行
    half_split_to_interleaved 是它的逆。

置换只发生在每个头内部（各个头是连续的 head_dim 行的块），挪动的是行，
从来不是列。只置换 q 和 k：v 和 o 不做旋转，所以保持不动。

API
    interleaved_to_half_split(w, n_heads, head_dim) -> Tensor
    half_split_to_interleaved(w, n_heads, head_dim) -> Tensor
        w：(n_heads * head_dim, d_model)；head_dim 为偶数。
        n_heads：这个权重产生的头数。在分组查询注意力（GQA）下，k 权重有
            n_kv_heads < n_heads 个头：调用方会为它传入 n_kv_heads，所以它
            不等于 d_model // head_dim。
        返回一个新张量（不是 w 的视图），形状、dtype 和 device 都与 w 相同，
        各行是 w 的行按上面的方式逐位不变地挪动后的结果。

注意
    * 结果是精确的：不需要任何运算，所以 bf16 权重也不必绕道 float32。
    * 不要原地修改 w，也不要写死形状或 device。
    * 用 head_dim >= 8 检查方向：head_dim = 4 时两个置换恰好都是 [0, 2, 1, 3]。

示例（一个头，head_dim = 8；w 的行编号为 0 .. 7）
    >>> w = torch.arange(8.)[:, None]
    >>> interleaved_to_half_split(w, 1, 8).flatten()
    tensor([0., 2., 4., 6., 1., 3., 5., 7.])
    >>> half_split_to_interleaved(w, 1, 8).flatten()
    tensor([0., 4., 1., 5., 2., 6., 3., 7.])
    >>> wk = torch.arange(32.).view(16, 2)   # GQA 的 k：2 个头，每头 8 行，d_model = 2
    >>> interleaved_to_half_split(wk, 2, 8)[8:, 0]   # 第 1 个头：第 8 .. 15 行
    tensor([16., 20., 24., 28., 18., 22., 26., 30.])

检查：  drillpe check rope_convert
"""

import torch


def interleaved_to_half_split(w, n_heads, head_dim):
    # 每个头内：第 2i 行 -> 第 i 行，第 2i+1 行 -> 第 i + head_dim/2 行（返回新张量）。
    raise NotImplementedError


def half_split_to_interleaved(w, n_heads, head_dim):
    # 逆变换：每个头内，第 i 行 -> 第 2i 行，第 i + head_dim/2 行 -> 第 2i+1 行。
    raise NotImplementedError
