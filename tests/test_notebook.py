"""drillpe.check(): the notebook and script API. Objects defined right here
(in test functions, as a learner would in Jupyter cells) are graded in the
same isolated child processes as the CLI uses (here forked from the shared warm
workers, conftest.py's warm_grading: tests/test_fixtures.py proves cold agrees)."""

import json
import linecache
import math
import subprocess
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from conftest import FIXTURES
from torch import nn

import drillpe
from drillpe.errors import UsageError
from drillpe.notebook import objects_source
from drillpe.results.report import ExerciseResult

pytestmark = pytest.mark.usefixtures("warm_grading")


def rope_objects(half_split=False):
    """A learner's RoPE session: helpers, a constant, the API functions."""
    BASE = 10000.0

    def rotate_every_two(x):
        if half_split:
            d = x.shape[-1] // 2
            return torch.cat([-x[..., d:], x[..., :d]], dim=-1)
        return torch.stack([-x[..., 1::2], x[..., ::2]], dim=-1).reshape(x.shape)

    def angles(length, d, device):
        theta = BASE ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
        return torch.arange(length, dtype=torch.float64, device=device)[:, None] * theta

    def sinusoidal_position_embedding(batch_size, nums_head, max_len, output_dim, device):
        ang = angles(max_len, output_dim, device)
        table = torch.stack([ang.sin(), ang.cos()], dim=-1).reshape(max_len, output_dim)
        return table.float().expand(batch_size, nums_head, max_len, output_dim)

    def RoPE(q, k):
        ang = angles(q.shape[-2], q.shape[-1], q.device)
        if half_split:
            ang = torch.cat([ang, ang], dim=-1)
        else:
            ang = ang.repeat_interleave(2, -1)
        cos, sin = ang.cos().to(q.dtype), ang.sin().to(q.dtype)
        return q * cos + rotate_every_two(q) * sin, k * cos + rotate_every_two(k) * sin

    def attention(q, k, v, mask=None, dropout=None, use_RoPE=True):
        if use_RoPE:
            q, k = RoPE(q, k)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(mask == 0, float("-inf"))
        weights = F.softmax(scores, dim=-1)
        if dropout is not None:
            weights = dropout(weights)
        return weights @ v, weights

    return dict(locals(), torch=torch, math=math, F=F)


def test_objects_defined_in_a_test_pass():
    report = drillpe.check("rope", rope_objects())
    assert isinstance(report, ExerciseResult)
    assert report.passed, report.to_json()
    assert report.score == 1.0
    assert report.checks and all(c.status == "pass" for c in report.checks)
    assert report.file.startswith("<objects: ")


def test_objects_with_a_known_mistake_get_the_diagnosis():
    report = drillpe.check("rope", rope_objects(half_split=True))
    assert not report.passed
    assert "rope.half_split" in report.diagnoses
    doc = json.loads(report.to_json())
    assert doc["exercise"] == "rope" and doc["passed"] is False
    assert {"id", "status", "diagnosis"} <= set(doc["checks"][0])


def test_a_class_defined_in_a_test():
    class TrainablePositionEncoding(nn.Module):
        def __init__(self, max_sequence_length, d_model):
            super().__init__()
            self.embedding = nn.Embedding(max_sequence_length, d_model)

        def forward(self, x, offset=0):
            length = x.shape[1]
            if offset + length > self.embedding.num_embeddings:
                raise ValueError(f"positions up to {offset + length} do not fit")
            pos = torch.arange(offset, offset + length, device=x.device)
            return x + self.embedding(pos).to(x.dtype)[None]

    report = drillpe.check("learnable", {"TrainablePositionEncoding": TrainablePositionEncoding,
                                         "nn": nn, "torch": torch})
    assert report.passed, report.to_json()


def test_a_class_typed_in_a_notebook_cell():
    """IPython keeps each cell's source in linecache under a fake file name,
    and the class's module is __main__: found through its methods."""
    cell = (FIXTURES / "learnable" / "embedding_style.py").read_text()
    filename = "<ipython-input-7-0123456789ab>"
    linecache.cache[filename] = (len(cell), None, cell.splitlines(True), filename)
    namespace = {"__name__": "__main__"}
    try:
        exec(compile(cell, filename, "exec"), namespace)
        text, names = objects_source(namespace)
        assert "class TrainablePositionEncoding" in text
        report = drillpe.check("learnable", namespace)
    finally:
        linecache.cache.pop(filename, None)
    assert report.passed, report.to_json()


def test_a_path_and_a_module():
    path = FIXTURES / "rope" / "half_split.py"
    by_path = drillpe.check("rope", path)
    by_str = drillpe.check("rope", str(path))
    assert not by_path.passed and "rope.half_split" in by_path.diagnoses
    assert by_str.diagnoses == by_path.diagnoses
    module = types.ModuleType("learner")
    module.__file__ = str(FIXTURES / "rope" / "correct_complex.py")
    assert drillpe.check("rope", module).passed


def test_a_module_built_in_memory_is_graded_from_its_objects():
    module = types.ModuleType("scratch")
    for name, obj in rope_objects().items():
        setattr(module, name, obj)
    assert drillpe.check("rope", module).passed


def test_the_learner_code_runs_in_another_process():
    """Code that would tamper with the caller's process runs elsewhere: the
    caller's torch is untouched, and the tampering is reported."""
    objects = rope_objects()

    def RoPE(q, k):
        torch.allclose = lambda *a, **kw: True  # noqa: E731 (a learner's trick)
        return q, k

    objects["RoPE"] = RoPE
    original = torch.allclose
    report = drillpe.check("rope", objects)
    assert torch.allclose is original
    assert not report.passed


def test_closures_do_not_travel():
    """Documented limit: objects are re-created from source in the child."""
    table = {}

    def RoPE(q, k):  # reads `table`, notebook state that is not in the dict
        return table["q"], table["k"]

    report = drillpe.check("rope", {**rope_objects(), "RoPE": RoPE})
    assert not report.passed


def test_bad_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="Did you mean rope"):
        drillpe.check("rpoe", {})
    with pytest.raises(UsageError, match="no such file"):
        drillpe.check("rope", tmp_path / "missing.py")
    with pytest.raises(UsageError, match="source must be"):
        drillpe.check("rope", 42)
    with pytest.raises(UsageError, match="unknown device"):
        drillpe.check("rope", {}, device="tpu")


def test_jupyter_renderings():
    report = drillpe.check("rope", FIXTURES / "rope" / "half_split.py")
    html = report._repr_html_()
    assert html.startswith("<pre") and "rope.half_split" in html and "<span" in html

    class Printer:
        def __init__(self):
            self.parts = []

        def text(self, value):
            self.parts.append(value)

    printer = Printer()
    report._repr_pretty_(printer, False)
    assert "rope.half_split" in printer.parts[0] and "\x1b[" not in printer.parts[0]
    # a plain python prompt: repr is one line that says how to see more; print shows the card
    assert "\n" not in repr(report) and repr(report).startswith("<drillpe report rope: FAIL")
    assert "report.show()" in repr(report) and "rope.matches_reference" in repr(report)
    assert str(report) == printer.parts[0]


def test_import_drillpe_stays_light():
    code = ("import sys, drillpe; heavy = [m for m in ('torch', 'numpy', 'rich', 'typer', "
            "'drillpe.launch.runner') if m in sys.modules]; print(heavy); "
            "assert callable(drillpe.check)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
    with pytest.raises(AttributeError):
        drillpe.no_such_thing  # noqa: B018


def test_globals_that_hold_drillpe_itself_are_graded_as_the_answer_alone():
    """The README's usage: `import drillpe` (or `from drillpe import check`) sits
    in the same namespace as the learner's functions; drillpe must not be
    copied into the learner file, so a correct answer passes."""
    from drillpe import check

    namespace = {**rope_objects(), "drillpe": drillpe, "check": check,
                 "objects_source": objects_source}
    source, names = objects_source(namespace)
    assert "drillpe" not in source
    assert {"check", "objects_source"}.isdisjoint(names) and "RoPE" in names
    report = drillpe.check("rope", namespace)
    assert report.passed and report.error is None, report.to_json()


def _module_angles(length, d, device):  # a helper the learner's functions use
    theta = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
    return torch.arange(length, dtype=torch.float64, device=device)[:, None] * theta


_rotate = lambda x: torch.stack([-x[..., 1::2], x[..., ::2]], dim=-1).reshape(x.shape)  # noqa: E731


def _module_rope(q, k):
    ang = _module_angles(q.shape[-2], q.shape[-1], q.device).repeat_interleave(2, -1)
    cos, sin = ang.cos().to(q.dtype), ang.sin().to(q.dtype)
    return q * cos + _rotate(q) * sin, k * cos + _rotate(k) * sin


def test_helpers_travel_with_the_objects_that_use_them():
    """Only the exercise's names are passed: the helpers they read from their
    globals (a function, a lambda) and closures come along."""
    objects = rope_objects()
    passed = {"RoPE": _module_rope, "attention": objects["attention"],
              "sinusoidal_position_embedding": objects["sinusoidal_position_embedding"]}
    text, _ = objects_source(passed)
    assert "def _module_angles" in text and "_rotate = (lambda x:" in text
    assert "def angles" in text and "BASE = 10000.0" in text  # closure variables
    report = drillpe.check("rope", passed)
    assert report.passed, report.to_json()


def test_a_lambda_bound_to_a_name_travels_as_an_assignment():
    objects = rope_objects()
    objects["attention"] = lambda q, k, v, mask=None, dropout=None, use_RoPE=True: (v, v)  # noqa: E731
    text, _ = objects_source(objects)
    compile(text, "generated", "exec")  # the generated file is valid Python
    assert "attention = (lambda q, k, v" in text
    report = drillpe.check("rope", objects)
    assert not report.passed and report.error is None  # graded, not a syntax error


_split_lambda = (lambda L, d:  # noqa: E731 (a lambda over two lines, in brackets)
                 torch.arange(L, dtype=torch.float64)[:, None]
                 * 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d))


def test_a_lambda_over_several_lines_stays_valid_python():
    def RoPE(q, k):
        return q + 0 * _split_lambda(q.shape[-2], q.shape[-1]).sum(), k

    text, _ = objects_source({"RoPE": RoPE})
    compile(text, "generated", "exec")
    assert "_split_lambda = (lambda L, d:" in text


def test_a_partial_is_refused_with_what_to_do():
    import functools

    def rope_with_base(q, k, base):
        return q, k

    objects = rope_objects()
    objects["RoPE"] = functools.partial(rope_with_base, base=10000.0)
    with pytest.raises(UsageError, match="RoPE is a functools.partial.*define it with def"):
        drillpe.check("rope", objects)


def test_code_typed_at_a_plain_prompt_is_refused_with_the_reason():
    namespace = {"torch": torch}
    exec(compile("def RoPE(q, k):\n    return q, k\n", "<stdin>", "exec"), namespace)
    with pytest.raises(UsageError, match="plain python prompt.*save your code in a file|"
                                         "plain python prompt"):
        drillpe.check("rope", namespace)


def test_globals_keep_private_helpers_cached_helpers_and_default_constants(tmp_path):
    """drillpe.check("rope", globals()) where RoPE calls `_rot` (private), a
    helper behind @functools.lru_cache, and takes base=BASE: all travel."""
    source = (FIXTURES / "rope" / "correct_default_from_constant.py").read_text()
    path = tmp_path / "cell_module.py"
    path.write_text(source)
    namespace: dict = {"__name__": "cell_module"}
    exec(compile(source, str(path), "exec"), namespace)  # like a notebook's globals()
    linecache.checkcache(str(path))
    report = drillpe.check("rope", namespace, timeout=60)
    assert report.passed, report.to_json()
    text, _ = objects_source(namespace, needed=("RoPE",), exercise="rope")
    assert "def _rot(" in text and "@functools.lru_cache" in text and "BASE = 10000.0" in text
    assert "__main__" not in text


@pytest.mark.parametrize("options", [{"timeout": 1e10}, {"timeout": float("nan")},
                                     {"timeout": 0}, {"timeout": "20"}, {"seed": 2**64},
                                     {"seed": -1}, {"seed": 1.5}])
def test_options_out_of_range_are_refused_before_grading(options):
    with pytest.raises(UsageError):
        drillpe.check("rope", FIXTURES / "rope" / "correct_default_from_constant.py", **options)
