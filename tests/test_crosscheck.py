"""The model answers against the public implementations their `[[crosscheck]]`
lines name (what `reveal` and `learn` say the reference was checked against).

Each comparison runs only where its library is installed
(pip install 'drillpe[crosscheck]'); elsewhere it is skipped with the reason.
The bookkeeping tests run everywhere: every claim has a comparison here, and
every comparison here backs a claim, so a line can neither appear without a
test nor outlive one.
"""

import importlib.util
import math
from pathlib import Path

import pytest

from drillpe.data import catalog

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent


def _solution(exercise_id: str):
    spec = importlib.util.spec_from_file_location(f"drillpe_crosscheck_{exercise_id}",
                                                  ROOT / "solutions" / f"{exercise_id}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _library(name: str, versions: str):
    """The library, or a skip that says why (absent, or another major version
    than the claim is about)."""
    module = pytest.importorskip(name, reason=f"{name} is not installed "
                                 "(pip install 'drillpe[crosscheck]')")
    major = versions.split(".")[0]
    if not module.__version__.startswith(major + "."):
        pytest.skip(f"the claim is about {name} {versions}; {module.__version__} is installed")
    return module


# Each comparison returns the measured disagreement, in the unit its claim states.

def distilbert() -> float:
    from transformers.models.distilbert.modeling_distilbert import (
        _create_sinusoidal_embeddings,
    )
    ours = _solution("sinusoidal").SinPositionEncoding(512, 64)()
    theirs = torch.empty(512, 64, dtype=torch.float32)
    _create_sinusoidal_embeddings(512, 64, theirs)
    return (ours - theirs).abs().max().item()


def gptj() -> float:
    import transformers.models.gptj.modeling_gptj as gptj_model

    ref = _solution("rope")
    length, dim = 512, 64
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # GPT-J builds its table in the default dtype
    try:
        sincos = gptj_model.create_sinusoidal_positions(length, dim)
    finally:
        torch.set_default_dtype(default)
    assert sincos.dtype == torch.float64
    sin, cos = torch.split(sincos, dim // 2, dim=-1)
    q = torch.randn(2, 3, length, dim, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(0))
    # GPT-J's layout is (batch, seq, heads, dim)
    theirs = gptj_model.apply_rotary_pos_emb(q.transpose(1, 2), sin[None], cos[None])
    return (ref.RoPE(q, q)[0] - theirs.transpose(1, 2)).abs().max().item()


def llama() -> float:
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import (
        LlamaRotaryEmbedding,
        apply_rotary_pos_emb,
    )

    ref = _solution("rope_neox")
    batch, heads, length, dim = 2, 4, 512, 64
    config = LlamaConfig(hidden_size=heads * dim, num_attention_heads=heads,
                         max_position_embeddings=4096)
    x = torch.randn(batch, heads, length, dim, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(1))
    positions = torch.arange(length)[None].expand(batch, length)
    cos, sin = LlamaRotaryEmbedding(config)(x, positions)
    theirs, _ = apply_rotary_pos_emb(x, x, cos, sin)
    return ((ref.apply_rope(x, positions) - theirs).abs().max() / x.abs().max()).item()


def bloom() -> float:
    import transformers.models.bloom.modeling_bloom as bloom_model

    ref = _solution("alibi")
    worst = 0.0
    for heads in range(1, 65):
        ours = torch.tensor(ref.get_slopes(heads), dtype=torch.float64)
        theirs = bloom_model._get_alibi_slopes(heads, "cpu").to(torch.float64)
        worst = max(worst, ((ours - theirs).abs() / ours).max().item())
        # the slopes BLOOM actually adds: build_alibi_tensor's (batch*heads, 1, L) bias
        mask = torch.ones(1, 5)
        bias = bloom_model.build_alibi_tensor(mask, heads, torch.float32)
        assert bias.shape == (heads, 1, 5)
        assert torch.allclose(bias[:, 0, 1].double(), theirs, rtol=0, atol=0)
    return worst


def t5() -> float:
    from transformers.models.t5.modeling_t5 import T5Attention

    ref = _solution("t5_bias")
    offsets = torch.arange(-3000, 3001)[None]
    differ = 0
    for bidirectional in (True, False):
        for buckets, distance in ((32, 128), (16, 64), (8, 20), (64, 256), (10, 30)):
            ours = ref.relative_position_bucket(offsets, bidirectional, buckets, distance)
            theirs = T5Attention._relative_position_bucket(offsets, bidirectional, buckets,
                                                           distance)
            differ += int((ours != theirs).sum())
    return float(differ)


def hf_rope_utils() -> float:
    import transformers.modeling_rope_utils as rope_utils
    from transformers import LlamaConfig

    ref = _solution("rope_scaling")
    compute = {"linear": rope_utils._compute_linear_scaling_rope_parameters,
               "yarn": rope_utils._compute_yarn_parameters,
               "llama3": rope_utils._compute_llama3_parameters}
    settings = [
        {"type": "linear", "factor": 4.0},
        {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096,
         "beta_fast": 32, "beta_slow": 1},
        {"type": "yarn", "factor": 16.0, "original_max_position_embeddings": 2048,
         "beta_fast": 32, "beta_slow": 1},
        {"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
         "original_max_position_embeddings": 8192},
    ]
    worst = 0.0
    for head_dim, base in ((128, 500000.0), (64, 10000.0)):
        for scaling in settings:
            parameters = {"rope_type": scaling["type"], "rope_theta": base,
                          **{k: v for k, v in scaling.items() if k != "type"}}
            config = LlamaConfig(
                hidden_size=head_dim * 4, num_attention_heads=4, head_dim=head_dim,
                max_position_embeddings=int(scaling.get("original_max_position_embeddings",
                                                        2048) * scaling["factor"]),
                rope_parameters=parameters)
            theirs, their_factor = compute[scaling["type"]](config, "cpu")
            ours, our_factor = ref.inv_freq64(head_dim, base, scaling)
            assert math.isclose(our_factor, their_factor, rel_tol=1e-12), scaling
            worst = max(worst, ((theirs.to(torch.float64) - ours).abs() / ours).max().item())
    return worst


COMPARISONS = {("sinusoidal", "distilbert"): distilbert, ("rope", "gptj"): gptj,
               ("rope_neox", "llama"): llama, ("alibi", "bloom"): bloom, ("t5_bias", "t5"): t5,
               ("rope_scaling", "hf_rope_utils"): hf_rope_utils}
CLAIMS = {(claim.exercise, claim.id): claim
          for eid in catalog.ids() for claim in catalog.crosschecks(eid)}


def test_every_claim_has_a_comparison_and_back():
    assert set(CLAIMS) == set(COMPARISONS)


def test_claims_read_in_both_languages():
    for claim in CLAIMS.values():
        assert claim.texts.get("within") and claim.texts.get("within_zh"), claim.id
        assert claim.library in claim.line and claim.against in claim.line


@pytest.mark.parametrize("key", sorted(COMPARISONS), ids=lambda key: "-".join(key))
def test_reference_matches_public_implementation(key):
    claim = CLAIMS[key]
    _library(claim.library, claim.versions)
    measured = COMPARISONS[key]()
    assert measured <= claim.tolerance, (
        f"{claim.exercise}: {measured:.3g} against {claim.against}, "
        f"claimed within {claim.tolerance:g}")


def _shown(show) -> str:
    from drillpe import render

    with render.out.capture() as captured:
        show()
    return " ".join(captured.get().split())


def test_reveal_and_learn_say_what_the_reference_was_checked_against():
    from drillpe import render
    from drillpe.data import lessons
    from drillpe.render import lesson_views

    def learn(eid):
        lesson = lessons.lesson(eid)
        return lambda: lesson_views.show(eid, "t", lesson, lessons.texts(eid, lesson.numbers, "en"),
                                         lessons.labels("en"))

    rope = catalog.get("rope")
    revealed = _shown(lambda: render.reveal(rope, "x = 1\n"))
    assert "Checked against transformers 5.x: GPT-J's apply_rotary_pos_emb" in revealed
    assert "LlamaRotaryEmbedding" in _shown(learn("rope_neox"))
    # no claim, no line: relative (Shaw) has no public implementation to check against
    assert "Checked against" not in _shown(learn("relative"))
    assert "Checked against" not in _shown(lambda: render.reveal(catalog.get("relative"), "x\n"))
