"""drillpe 练习：图像 patch 的轴向 2-D RoPE（ViT，lucidrains 的布局）。

ViT 把图像切成一个个 patch 组成的网格；第 n 个 patch 位于第 rows[n] 行、
第 cols[n] 列。轴向 2-D RoPE 给每个轴分配每个头维度的一半：把
head_dim = d 拆成两半，每半 h = d/2 个通道。

  * 前一半 x[..., :h] 按行号做普通的 1-D RoPE，
  * 后一半 x[..., h:] 按列号做普通的 1-D RoPE。

每一半内部都用交错配对 (z[2i], z[2i+1])，i = 0 .. h/2 - 1（与 RoFormer
论文和 GPT-J 的 rotate_every_two 相同；不是 GPT-NeoX 的前后对半配对
[z[:h/2] | z[h/2:]]），频率就是在这一半的 h 个通道上做 1-D RoPE 时的频率：

    theta_i  = base ** (-2i / h)            （h = head_dim / 2，不是 head_dim）
    a        = 前一半用 rows[n]，后一半用 cols[n]
    y[2i]    = z[2i]   * cos(a theta_i) - z[2i+1] * sin(a theta_i)
    y[2i+1]  = z[2i+1] * cos(a theta_i) + z[2i]   * sin(a theta_i)

这与 lucidrains rotary-embedding-torch 中
RotaryEmbedding(dim=head_dim // 2).get_axial_freqs(H, W) 加上其交错旋转的结果
相同（EVA-02 用的就是这种布局）。位于 (0, 0) 的 patch 不变，范数保持不变，
并且 (r1, c1) 处旋转后的 q 与 (r2, c2) 处旋转后的 k 的点积只取决于
(r1 - r2, c1 - c2)。

API
    apply_rope_2d(x, rows, cols, base=10000.0) -> Tensor
        x:    (batch, heads, n_patches, head_dim)，head_dim 能被 4 整除。
        rows: (n_patches,) 整数张量，每个 patch 的行号。
        cols: (n_patches,) 整数张量，每个 patch 的列号。
              rows 和 cols 由所有 batch 元素和所有 head 共用。它们可以是任意
              顺序（打乱的、裁剪出来的、不规则的一组 patch）：按给定的值使用，
              不要假设是按行优先排列的完整网格。
        base: 频率的底数（评测程序会使用不同的值，如 100.0、10000.0，不要写死）。
        返回旋转后的 x：形状、dtype（包括 bfloat16/float16）和 device 都与 x 相同。

注意
    * 角度至少用 float32 计算（行号、列号可以到几千），然后返回 x 的 dtype。
    * 不要写死 batch、heads、n_patches、head_dim、base 或 device；
      不要原地修改 x。
    * 按行优先排列的规则 H x W 网格是
      rows = torch.arange(H).repeat_interleave(W), cols = torch.arange(W).repeat(H)。

示例（head_dim = 4，所以 h = 2，theta = [1]）
    >>> x = torch.tensor([[[[1., 2., 3., 4.], [1., 2., 3., 4.]]]])   # 2 个 patch
    >>> apply_rope_2d(x, rows=torch.tensor([0, 1]), cols=torch.tensor([0, 2]))
    tensor([[[[ 1.0000,  2.0000,  3.0000,  4.0000],
              [-1.1426,  1.9221, -4.8856,  1.0633]]]])
    # patch (0, 0)：不变。patch（第 1 行，第 2 列）：通道对 (1, 2) 旋转
    # 1 * 1 = 1 弧度，(1 cos 1 - 2 sin 1, 2 cos 1 + 1 sin 1)；通道对 (3, 4)
    # 旋转 2 * 1 = 2 弧度，(3 cos 2 - 4 sin 2, 4 cos 2 + 3 sin 2)。

完成后运行：drillpe check rope_2d
"""

import torch


def apply_rope_2d(x, rows, cols, base=10000.0):
    # 把 x[..., :h] 按行号旋转，x[..., h:] 按列号旋转（h = head_dim / 2）。
    raise NotImplementedError
