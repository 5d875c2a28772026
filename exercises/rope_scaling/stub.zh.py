"""drillpe 练习：RoPE 上下文扩展（linear、NTK-aware、YaRN、Llama 3）。

一个在 L 个 token 上训练的 RoPE 模型，从没见过位置 p > L 时的角度
p * inv_freq[i]。上下文扩展方法会重新缩放逆频率（YaRN 还会缩放注意力），
让更长的序列仍落在模型熟悉的范围内。请按 HF transformers 的
`modeling_rope_utils` 写出构造这些频率的函数。

普通 RoPE（d = head_dim，i = 0 .. d/2 - 1 是被旋转的通道对的下标）：

    inv_freq[i]   = base ** (-2i / d)
    wavelength[i] = 2 pi / inv_freq[i]

scaling = None                 inv_freq 保持不变。
{"type": "linear", "factor": f}
    位置插值：inv_freq / f（相当于把位置当成 p / f）。
{"type": "ntk", "factor": f}
    静态 NTK-aware 缩放（即 rotary-embedding-torch 的 theta_rescale_factor）：
    公式不变，只把底数换成  base * f ** (d / (d - 2))。
    最高频仍是 1，最低频恰好变成 inv_freq[-1] / f。
{"type": "yarn", "factor": f, "original_max_position_embeddings": L,
 "beta_fast": 32, "beta_slow": 1}
    HF 的 `_compute_yarn_parameters`，取默认的 truncate=True：
        dim(r)     = d * ln(L / (2 pi r)) / (2 ln base)     （在 L 个位置内恰好
                     转 r 圈，即 L = r × 波长的那个通道对的下标）
        low        = max(floor(dim(beta_fast)), 0)
        high       = min(ceil(dim(beta_slow)), d - 1)
        （若 low == high，则用 high + 0.001）
        ramp[i]    = clamp((i - low) / (high - low), 0, 1)      for i = 0 .. d/2 - 1
        keep[i]    = 1 - ramp[i]
        inv_freq   = inv_freq / f * (1 - keep) + inv_freq * keep
    下标低于 low 的通道对保持原频率，高于 high 的除以 f，中间按通道对下标 i
    线性过渡。（不是 YaRN 论文里的斜坡：论文的斜坡对旋转圈数 L / wavelength
    是线性的。）
{"type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4,
 "original_max_position_embeddings": 8192}
    HF 的 `_compute_llama3_parameters`，记 L = original_max_position_embeddings：
        wavelength < L / high_freq_factor   -> inv_freq            （保持）
        wavelength > L / low_freq_factor    -> inv_freq / factor   （插值）
        其余       smooth = (L / wavelength - low_freq_factor)
                            / (high_freq_factor - low_freq_factor)
                   -> (1 - smooth) * inv_freq / factor + smooth * inv_freq

attention_factor：yarn 且 f > 1 时为 0.1 * ln(f) + 1（它乘在 cos 和 sin 上），
其他所有情况（f <= 1 的 yarn，以及其他所有类型）都是 1.0。

API
    rope_inv_freq(head_dim, base=10000.0, scaling=None) -> (inv_freq, attention_factor)
        head_dim：偶数 int；base：float（或 int）；scaling：None 或上面的某个
        dict（普通的 Python dict，总是包含上面列出的全部键；其中的数字可能是
        int 也可能是 float）。
        inv_freq：形状为 (head_dim/2,) 的张量，float32（与 HF 一致；float64
        也接受），位于 torch 的默认设备上：创建时不要传 device= 参数
        （评测程序会设置默认设备，CPU 或 CUDA）。
        attention_factor：Python float（像 1 这样的 int 也接受；0 维张量不接受：
        请用 math.log，或 float(...)）。

注意
    * 不要修改调用方传入的 dict（不要 pop、del，也不要给它赋值）。
    * 修正区间这类标量就是普通的 Python float：用 math 计算即可。
    * 不要把 head_dim、base、factor 或 dict 里的其他值写死：评测程序会逐一
      改变它们。
    * 不允许导入 transformers 和 rotary_embedding_torch。

示例（head_dim = 8，base = 10000：普通 inv_freq = [1, 0.1, 0.01, 0.001]）
    >>> rope_inv_freq(8, 10000.0, {"type": "linear", "factor": 2.0})
    (tensor([0.5000, 0.0500, 0.0050, 0.0005]), 1.0)
    >>> rope_inv_freq(8, 10000.0, {"type": "ntk", "factor": 4.0})   # base 63496.04
    (tensor([1.0000e+00, 6.2996e-02, 3.9685e-03, 2.5000e-04]), 1.0)
    >>> rope_inv_freq(8, 10000.0, {"type": "yarn", "factor": 4.0,
    ...     "original_max_position_embeddings": 4096, "beta_fast": 32, "beta_slow": 1})
    (tensor([1.0000e+00, 1.0000e-01, 6.2500e-03, 2.5000e-04]), 1.138629436111989)
    # dim(32) = 1.309 -> low 1, dim(1) = 2.814 -> high 3; ramp = [0, 0, 0.5, 1]
    >>> rope_inv_freq(8, 10000.0, {"type": "llama3", "factor": 8, "low_freq_factor": 1,
    ...     "high_freq_factor": 4, "original_max_position_embeddings": 64})
    (tensor([1.0000e+00, 1.3042e-02, 1.2500e-03, 1.2500e-04]), 1.0)
    # 波长 6.28（< 16：保持）、62.8（smooth = (64/62.83 - 1)/3 = 0.0062）、
    # 628 和 6283（> 64：除以 8）

完成后运行：drillpe check rope_scaling
"""

import math  # noqa: F401  （用于修正区间和注意力缩放因子）

import torch


def rope_inv_freq(head_dim, base=10000.0, scaling=None):
    # 返回 (形状为 (head_dim/2,) 的 inv_freq, attention_factor)，按给定的 scaling 计算。
    raise NotImplementedError
