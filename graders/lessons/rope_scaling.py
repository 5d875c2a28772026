"""`drillpe learn rope_scaling`, computed from the reference's public API
(rope_inv_freq); `python -m drillpe.devtools lessons` writes the result to
exercises/rope_scaling/lesson.json."""

HEAD_DIM, BASE, FACTOR = 128, 10000.0, 8.0
SCALINGS = {
    "none": None,
    "linear": {"type": "linear", "factor": FACTOR},
    "ntk": {"type": "ntk", "factor": FACTOR},
    "yarn": {"type": "yarn", "factor": FACTOR, "original_max_position_embeddings": 4096,
             "beta_fast": 32, "beta_slow": 1},
    "llama3": {"type": "llama3", "factor": FACTOR, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
}


def yarn_ramp_ends(plain, yarn, factor):
    """YaRN's (low, high) pair indices. The API does not return them; they are read
    from its output: θ_yarn / θ = (1 − γ_i) + γ_i / s gives the ramp γ_i, which is 0
    up to pair `low` and 1 from pair `high` on (rope_inv_freq returns float32, so
    "0" and "1" are within 1e-4; the ramp's steps are 1/(high − low) >= 1/63)."""
    ramp = [(1 - y / p) / (1 - 1 / factor) for p, y in zip(plain, yarn)]
    low = max(i for i, g in enumerate(ramp) if abs(g) < 1e-4)
    high = min(i for i, g in enumerate(ramp) if abs(g - 1) < 1e-4)
    assert all(1e-4 < g < 1 - 1e-4 for g in ramp[low + 1:high]), ramp
    return low, high


def build(public):
    api = public("rope_scaling")
    dims = [0, 16, 24, 32, 40, 48, 63]
    freqs = {}
    for name, scaling in SCALINGS.items():
        inv, attention_factor = api.rope_inv_freq(HEAD_DIM, BASE, scaling)
        freqs[name] = (inv.tolist(), attention_factor)
    plain = freqs["none"][0]
    # Drawn as the slowdown θ(none)/θ(method): each method's change shows,
    # instead of being lost in the 4-decade fall of θ_i itself.
    slowdown = [[p / f for f, p in zip(freqs[name][0], plain)] for name in SCALINGS]
    numbers = {name: "".join(f"{inv[i]:>9.3g}" for i in dims) for name, (inv, _) in freqs.items()}
    yarn, llama = SCALINGS["yarn"], SCALINGS["llama3"]
    low, high = yarn_ramp_ends(plain, freqs["yarn"][0], FACTOR)
    llama_len = llama["original_max_position_embeddings"]
    numbers.update({
        "head_dim": str(HEAD_DIM), "base": f"{BASE:g}", "factor": f"{FACTOR:g}",
        "dims": "".join(f"{i:>9}" for i in dims),
        "yarn_len": str(yarn["original_max_position_embeddings"]),
        "yarn_low": str(low), "yarn_high": str(high), "yarn_attn": f"{freqs['yarn'][1]:.4f}",
        # the llama3 band edges are the configuration's L / high_freq and L / low_freq
        "llama_len": str(llama_len), "short": f"{llama_len / llama['high_freq_factor']:g}",
        "long": f"{llama_len / llama['low_freq_factor']:g}"})
    return {
        "heatmap": {"values": slowdown, "lo": 1.0, "hi": FACTOR, "log": True,
                    "row_labels": list(SCALINGS)},
        "numbers": numbers,
    }
