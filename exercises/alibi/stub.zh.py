"""drillpe 练习：ALiBi，带线性偏置的注意力（Press et al. 2022）。

ALiBi 完全不加位置编码。每个头 h 直接从注意力 logits 里减去一个与
query-key 距离成正比的惩罚：

    logits[b, h, i, j] = q_i · k_j / sqrt(D) - m_h * |pos_i - j|

第 h 个头有一个固定的斜率 m_h（ofirpress 的 `get_slopes`，HF Bloom 的
`build_alibi_tensor`）：

    n 是 2 的幂：  m_h = 2 ** (-8 (h+1) / n),   h = 0 .. n-1
                   （从 2 ** (-8/n) 递减到 2 ** -8 的等比数列）
    否则：         p = 2 ** floor(log2 n)
                   slopes(n) = slopes(p) + slopes(2p)[0::2][: n - p]
                   （先取不超过 n 的最大 2 的幂 p 的全部斜率，再从 2p 的
                   斜率里从第一个开始隔一个取一个，补足剩下的头）

key 位于位置 j = 0 .. Lk-1。query 与 key 的「末尾」对齐：第 i 个 query 位于
pos_i = i + (Lk - Lq)（Lq == Lk 时就是 i；用 KV cache 解码时，唯一的新
query 就是最后一个位置）。causal=True 时，位于 query 之后的 key（j > pos_i）
不参与 softmax；causal=False 时所有 key 都参与，两侧的 key 都按距离受罚。

API
    alibi_slopes(n_heads) -> (n_heads,) 的 float32 斜率张量，第 0 个头在最前
        （也接受 float64；其他 dtype 不接受）。
    alibi_attention(q, k, v, causal=True) -> (B, H, Lq, D)
        q: (B, H, Lq, D)，k 和 v: (B, H, Lk, D)。
        output = softmax(对 key 维的上述 logits) @ v，H 个斜率取自
        alibi_slopes(H)，causal 规则如上。
        dtype（包括 bfloat16/float16）和 device 与输入相同。

注意
    * 先缩放，再加偏置：偏置不除以 sqrt(D)。
    * causal=True 时，softmax 不受整行加同一个常数的影响，所以 HF Bloom 的
      写法 logits + m_h * j 结果相同。causal=False 时就不成立了：只有
      -m_h * |pos_i - j| 是对的。
    * 评测程序不会在 Lq > Lk 时使用 causal=True。
    * 不要写死 batch、头数、长度、head_dim 或 device；新建张量要放在
      q.device 上，并保持 q 的 dtype（float32 的偏置加到 bfloat16 的 logits
      上，会把它们变成 float32）。
    * 不允许使用 torch.nn.functional.scaled_dot_product_attention、
      nn.MultiheadAttention 和 F.multi_head_attention_forward：注意力要自己写。

示例
    >>> alibi_slopes(8)      # 1/2, 1/4, ..., 1/256
    tensor([0.5000, 0.2500, 0.1250, 0.0625, 0.0312, 0.0156, 0.0078, 0.0039])
    >>> alibi_slopes(12)     # slopes(8)，然后是 2**-0.5, 2**-1.5, 2**-2.5, 2**-3.5
    tensor([0.5000, 0.2500, 0.1250, 0.0625, 0.0312, 0.0156, 0.0078, 0.0039, 0.7071,
            0.3536, 0.1768, 0.0884])
    # 两个头（m = 1/16, 1/256），两个位置，q = 0（于是只有偏置起作用），
    # v = [[0.], [1.]]：输出就是 key 1 的权重。
    >>> q = torch.zeros(1, 2, 2, 1); k = torch.ones(1, 2, 2, 1)
    >>> v = torch.tensor([0., 1.]).reshape(1, 1, 2, 1).expand(1, 2, 2, 1)
    >>> alibi_attention(q, k, v, causal=False)[0, :, :, 0]
    tensor([[0.4844, 0.5156],
            [0.4990, 0.5010]])
    # 头 0、query 0：权重 ∝ (1, e^(-1/16))，所以是 1 / (1 + e^(1/16)) = 0.4844
    >>> alibi_attention(q, k, v, causal=True)[0, :, :, 0]
    tensor([[0.0000, 0.5156],
            [0.0000, 0.5010]])
    # causal：query 0 只能看到 key 0；query 1 不变

完成后运行：drillpe check alibi
"""

import math  # noqa: F401  （用于 1/sqrt(D) 缩放和 log2）

import torch


def alibi_slopes(n_heads):
    # 返回 (n_heads,) 的 float32 斜率：2 ** (-8 (h+1) / n)，必要时用交错补齐。
    raise NotImplementedError


def alibi_attention(q, k, v, causal=True):
    # 返回 softmax(q k^T / sqrt(D) - m_h |pos_i - j|，加 causal mask) @ v，形状 (B, H, Lq, D)。
    raise NotImplementedError
