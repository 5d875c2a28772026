"""The judge's reading of the learner's file (drillpe.grading.static): it sees
through aliases, private operators, wrappers and dynamic lookups, and it
never refuses what an honest answer writes."""

import re
from pathlib import Path

import pytest

from drillpe.grading.static import analyse

ROOT = Path(__file__).resolve().parent.parent
SDPA = ("torch.nn.functional.scaled_dot_product_attention", "torch.nn.MultiheadAttention",
        "torch.nn.functional.multi_head_attention_forward")
RULES = ("rules.banned_api", "rules.tampering", "rules.uses_reference", "rules.module_not_allowed")


def codes(source: str, banned=SDPA) -> set[str]:
    report = analyse(source, banned, ("transformers",))
    assert report.syntax_error is None, report.syntax_error
    return {f.code for f in report.findings}


@pytest.mark.parametrize("source, expected", [
    # torch's private modules and its utilities run shells, load files and strings as
    # modules (a reviewer's forged pass); the bench's thread count is not the file's to set
    ("from torch._inductor.codecache import PyCodeCache", {"rules.tampering"}),
    ("import torch\ntorch._dynamo.reset()", {"rules.tampering"}),
    ("import torch.utils.collect_env as c\nc.run('cp a b')", {"rules.tampering"}),
    ("import torch\ntorch.utils.benchmark.Timer('x')", {"rules.tampering"}),
    ("import torch\ntorch.set_num_threads(2)", {"rules.tampering"}),
    ("from torch import set_num_interop_threads", {"rules.tampering"}),
    ("import numpy\nnumpy._core", {"rules.tampering"}),
    # a stream's raw file is an io.FileIO, which opens any path and writes any fd (a
    # reviewer's file forged the bench's report through it, and passed the rules)
    ("import sys\nF = type(sys.stderr.buffer.raw)", {"rules.tampering"}),
    ("import sys\nerr = sys.stderr\nF = type(err.raw)", {"rules.tampering"}),
    ("import sys\nF = [sys.stdout][0].buffer", {"rules.tampering"}),
    # a coroutine's code renamed to call exec, made a function again (a reviewer's
    # forged passes under the guard); a class built from a dict of refused methods;
    # torch.compiler.load_compiled_function unpickles what it is handed
    ("async def c(t):\n    return g(t)\ncode = c('').cr_code", {"rules.tampering"}),
    ("async def a():\n    yield 1\ncode = a().ag_code", {"rules.tampering"}),
    ("def f():\n    pass\nnames = f.x.co_names", {"rules.tampering"}),
    ("import torch\nS = type('S', (torch.Tensor,), {'__del__': print})", {"rules.tampering"}),
    ("import torch\ntorch.compiler.load_compiled_function(f)", {"rules.tampering"}),
    # locals()["__builtins__"]["exec"] (a reviewer's forged pass), a class body's
    # locals() defining refused methods, torch.compile's backends and options, hooks on
    # every module, warnings reading any file's lines
    ("b = locals()['__builtins__']\nb['exec']('x = 1')", {"rules.tampering"}),
    ("import torch\nclass T(torch.Tensor):\n    locals()['__del__'] = print", {"rules.tampering"}),
    ("import torch\nf = torch.compile(g, backend=b)", {"rules.tampering"}),
    ("import torch\ntorch.nn.modules.module.register_module_forward_hook(h)", {"rules.tampering"}),
    ("import warnings\nwarnings.formatwarning('m', UserWarning, '/etc/passwd', 1)",
     {"rules.tampering"}),
    # a metaclass-built class whose __match_args__ named __globals__, read by a positional
    # class pattern (a reviewer's exec), and classes built from dicts by other names
    ("T = type\nA = T('A', (), {'__match_args__': ('__globals__',)})", {"rules.tampering"}),
    ("match f:\n    case A(g):\n        pass", {"rules.tampering"}),
    ("import abc\nX = abc.ABCMeta('X', (), {})", {"rules.tampering"}),
    ("import dataclasses\nX = dataclasses.make_dataclass('X', [])", {"rules.tampering"}),
    ("names = ('tb_frame',)", {"rules.tampering"}),
    # attributes got and set by names made at run time (a reviewer's __builtins__, then exec)
    ("import functools\nfunctools.update_wrapper(box, f, assigned=(n,), updated=())",
     {"rules.tampering"}),
    ("from functools import wraps\nw = wraps(f, assigned=(n,))", {"rules.tampering"}),
    ("import dataclasses\ndataclasses.fields(Box)[0].name = n", {"rules.tampering"}),
    ("from dataclasses import astuple, asdict, replace", {"rules.tampering"}),
    ("class Box:\n    def __setattr__(self, k, v):\n        store[k] = v", {"rules.tampering"}),
    ("class Box:\n    def __delattr__(self, k):\n        pass", {"rules.tampering"}),
    # a metaclass adds to the class body under names made at run time (a reviewer's
    # dataclass fields __globals__ and __closure__)
    ("import typing\nr = typing.get_args(typing.Optional[n])[0]._evaluate(g, g, set())",
     {"rules.tampering"}),
    # dataclass fields named like what the rules refuse: the generated __eq__ read
    # torch.from_file and dataclasses._create_fn off the modules (a reviewer's)
    ("class F:\n    from_file: object", {"rules.tampering"}),
    ("class F:\n    _create_fn: object", {"rules.tampering"}),
    ("class F:\n    system: object", {"rules.tampering"}),
    # a module reached as an attribute and used as a value, then walked on from (a
    # reviewer's reached sys, getattr and torch.from_file so)
    ("import torch\nm = [torch.nn][0]", {"rules.tampering"}),
    ("import torch\ns = x.utils.parametrize.collections._sys", {"rules.tampering"}),
    ("import torch\ng = s.modules['builtins'].getattr", {"rules.tampering"}),
    ("import torch\nf = t.from_file", {"rules.tampering"}),
    # a module from a function that returns one, then private names off it (a reviewer's
    # torch.get_device_module("cpu").torch._utils._import_dotted_name)
    ("import torch\nm = torch.get_device_module('cpu')", {"rules.tampering"}),
    # a walrus is the module itself, as a value (a reviewer's [(m := torch.ao)][0])
    ("import torch\nx = [(t := torch)][0]", {"rules.tampering"}),
    ("import torch\nx = (m := torch.nn).init", {"rules.tampering"}),
    ("import torch\ng = a.quantization.utils.getattr_from_fqn", {"rules.tampering"}),
    ("import torch\nf = m.torch.nn", {"rules.tampering"}),
    ("import torch\nf = m._utils._import_dotted_name", {"rules.tampering"}),
    ("class M(type):\n    pass", {"rules.tampering"}),
    ("class H(metaclass=M):\n    pass", {"rules.tampering"}),
    ("import enum\nclass E(enum.EnumMeta):\n    pass", {"rules.tampering"}),
    # banned attention, however it is spelt
    ("import torch.nn.functional as F\nF.scaled_dot_product_attention(q, k, v)", {"rules.banned_api"}),
    ("from torch.nn.functional import scaled_dot_product_attention as s\ns(q, k, v)",
     {"rules.banned_api"}),
    ("import torch\nf = torch.nn.functional\nf.scaled_dot_product_attention(q, k, v)",
     {"rules.banned_api"}),
    ("import torch.nn.functional as F\nF.scaled_dot_product_attention.__wrapped__(q, k, v)",
     {"rules.banned_api", "rules.tampering"}),
    ("import torch\ntorch.ops.aten.scaled_dot_product_attention(q, k, v)",
     {"rules.banned_api", "rules.tampering"}),
    ("import torch\ntorch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v)",
     {"rules.banned_api", "rules.tampering"}),
    ("import torch\ntorch._C._nn.scaled_dot_product_attention(q, k, v)",
     {"rules.banned_api", "rules.tampering"}),
    ("from torch.nn.attention.flex_attention import flex_attention", {"rules.banned_api"}),
    ("import torch.nn as nn\nm = nn.MultiheadAttention(8, 2)", {"rules.banned_api"}),
    ("import torch\nm = torch.nn.TransformerEncoderLayer(8, 2)", {"rules.banned_api"}),
    # attributes read inside strings
    ('def f(): pass\nx = "{0.__globals__}".format(f)', {"rules.tampering"}),
    ('def f(): pass\nx = str.format("{0.__globals__[x]}", f)', {"rules.tampering"}),
    ('T = "{0.__globals__}"\ndef f(): pass\nx = T.format(f)', {"rules.tampering"}),
    ("def g(t):\n    return t.format(1)", {"rules.tampering"}),
    ("from string import Formatter", {"rules.tampering"}),
    ("def f(x: \"__import__('os')\"): pass", {"rules.tampering"}),
    ("import typing\ntyping.get_type_hints(f)", {"rules.tampering"}),
    ('import torch\ntorch.jit.CompilationUnit("def f(x): return x")', {"rules.tampering"}),
    # modules and code-by-name objects re-exported by allowed modules
    ("from enum import bltns\nbltns.eval('1')", {"rules.tampering"}),
    ("import enum\nenum.bltns.getattr(enum, 'x')", {"rules.tampering"}),
    ("from typing import operator as op\nop.attrgetter('a')", {"rules.tampering"}),
    ("import typing\ntyping.sys.modules", {"rules.tampering"}),
    ("import functools\nfunctools.singledispatch", {"rules.tampering"}),
    ("from torch import nn\nN = [nn][0]\nN.modules.container.operator.attrgetter('a')",
     {"rules.tampering"}),
    ("import numpy.core.numeric as cn\ncn.operator.attrgetter('a')", {"rules.tampering"}),
    # class machinery that reads attributes by name or hooks isinstance
    ("class C:\n    __match_args__ = ('__globals__',)", {"rules.tampering"}),
    ("import abc\nclass C(abc.ABC):\n    @classmethod\n    def __subclasshook__(cls, o):\n"
     "        return True", {"rules.tampering"}),
    ("__getattr__ = print", {"rules.tampering"}),
    # ... and what honest code writes with them
    ('T = "L={0} d={1:.3f}"\nx = T.format(3, 1.5) + "{}".format(2)', set()),
    ('import torch\ndef f(x: "torch.Tensor", y: "int | None" = None) -> "list[int]": pass', set()),
    ("import transformers", {"rules.banned_api"}),
    # dynamic routes to anything
    ("import torch.nn.functional as F\ngetattr(F, 'scaled_' + 'dot_product_attention')",
     {"rules.tampering"}),
    ("import torch.nn.functional as F\nvars(F)['softmax']", {"rules.tampering"}),
    ("import torch.nn.functional as F\nF.__dict__['softmax']", {"rules.tampering"}),
    ("eval('1')", {"rules.tampering"}),
    ("exec('x = 1')", {"rules.tampering"}),
    ("__import__('os')", {"rules.tampering"}),
    ("import importlib\nimportlib.import_module('transformers')", {"rules.tampering"}),
    ("g = getattr\ng(object, 'x')", {"rules.tampering"}),
    ("import functools\nfunctools.reduce(getattr, ['a'], object)", {"rules.tampering"}),
    ("import operator\noperator.attrgetter('x')", {"rules.tampering"}),
    ("match x:\n    case object(__class__=c):\n        pass", set()),
    ("match x:\n    case object(__globals__=g):\n        pass", {"rules.tampering"}),
    # the interpreter, the process, the files
    ("import sys\ndel sys.modules['transformers']", {"rules.tampering"}),
    ("import sys\nsys.modules['drillpe.grading.records'].frame = None", {"rules.tampering"}),
    ("import sys\nsys._getframe(1).f_globals", {"rules.tampering"}),
    ("import sys\nsys.__stdout__.write('x')", {"rules.tampering"}),
    ("import gc\ngc.get_objects()", {"rules.tampering"}),
    ("import os\nos.write(3, b'x')", {"rules.tampering"}),
    ("import os\nos._exit(0)", {"rules.tampering"}),
    ("from os import _exit", {"rules.tampering"}),
    ("import ctypes", {"rules.tampering"}),
    ("import subprocess", {"rules.tampering"}),
    ("import threading", {"rules.tampering"}),
    ("open('/etc/passwd')", {"rules.tampering"}),
    ("import torch\ntorch.load('x.pt')", {"rules.tampering"}),
    ("import torch\ntorch.os.system('ls')", {"rules.tampering"}),
    ("import numpy as np\nnp.fromfile('x')", {"rules.tampering"}),
    ("import torch\nt = torch.zeros(2)\nt.numpy().tofile('x')", {"rules.tampering"}),
    ("import torch\ntorch.UntypedStorage.from_file('x', False, 10)", {"rules.tampering"}),
    ("def f():\n    raise E\ntry:\n    f()\nexcept Exception as e:\n    e.__traceback__.tb_frame",
     {"rules.tampering"}),
    ("class A:\n    def __del__(self):\n        pass", {"rules.tampering"}),
    ("class T:\n    def __torch_function__(self, *a):\n        pass", {"rules.tampering"}),
    ("def __getattr__(name):\n    pass", {"rules.tampering"}),
    ("from . import helper", {"rules.tampering"}),
    ("import drillpe", {"rules.uses_reference"}),
    ("from solutions import rope", {"rules.uses_reference"}),
    ("from graders.oracles import rope", {"rules.uses_reference"}),
    # changing torch for everyone
    ("import torch\ntorch.allclose = lambda *a: True", {"rules.tampering"}),
    ("import torch\ntorch.Tensor.__sub__ = lambda a, b: a", {"rules.tampering"}),
    ("from torch import Tensor\nTensor.abs = lambda a: a", {"rules.tampering"}),
    ("import torch\nT = torch.Tensor\nT.abs = lambda a: a", {"rules.tampering"}),
    ("import torch\nsetattr(torch, 'equal', lambda *a: True)", {"rules.tampering"}),
    ("import torch\ndel torch.equal", {"rules.tampering"}),
    ("import torch\nx = torch.ones(1)\ntype(x).abs = None", {"rules.tampering"}),
    ("import torch\nmods = [torch]\nmods[0].equal = None", {"rules.tampering"}),
    ("import time\ntime.perf_counter = lambda: 0.0", {"rules.tampering"}),
    # a class through an object (the bench's checks called what a reviewer set so)
    ("import torch\nq = torch.ones(1)\nq.__class__.detach = None", {"rules.tampering"}),
    ("import torch\nq = torch.ones(1)\ndel q.__class__.detach", {"rules.tampering"}),
    ("import torch\nq = torch.ones(1)\nsetattr(q.__class__, 'detach', None)",
     {"rules.tampering"}),
    ("import torch\nclass S(torch.UntypedStorage):\n    pass\n"
     "torch.ones(1).untyped_storage().__class__ = S", {"rules.tampering"}),
    # a module as a class's attribute, which the rules read as any value's (a reviewer's
    # reached random._index so: the bench's draw called it after the clock stopped)
    ("class Lib:\n    import random as rnd\nLib.rnd.seed(0)", {"rules.tampering"}),
    ("class Lib:\n    from math import pi", {"rules.tampering"}),
    ("import enum\nE = enum.Enum('E', [('a', 1)], module='random')\nenum.global_enum(E)",
     {"rules.tampering"}),
    # a module outside the allowed list: another library (or a typo) is not the
    # exercise; the standard library's other modules reach into the grader's process
    ("import scipy.special", {"rules.module_not_allowed"}),
    ("import nonexistent_mod_xyz", {"rules.module_not_allowed"}),
    ("from jax import numpy as jnp", {"rules.module_not_allowed"}),
    ("import ctypes", {"rules.tampering"}),
    ("import gc", {"rules.tampering"}),
    ("import _thread", {"rules.tampering"}),
    # hard-coded CUDA
    ("import torch\ntorch.zeros(2).cuda()", {"device.hardcoded_cuda"}),
    ("import torch\ntorch.zeros(2, device='cuda:0')", {"device.hardcoded_cuda"}),
])
def test_refused(source, expected):
    assert codes(source) == expected


@pytest.mark.parametrize("source", [
    "import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
    "from torch import Tensor, nn\nfrom typing import Optional\nimport numpy as np",
    "import torch\ndef f(input, open=None, vars=1):\n    return input + (open or 0) + vars",
    "def f(n):\n    match n:\n        case int(k) if k > 0:\n            return k\n    return 0",
    "import torch\nclass M(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.__cache = {}\n        self._table = None\n    def forward(self, x):\n"
    "        return x.select(-1, 0) + self.__class__.__name__.count('M')",
    "import sys\nif __name__ == '__main__':\n    print('ok', file=sys.stderr)\n    sys.exit(0)",
    "import os\nos.environ.get('X')\nos.path.join('a', 'b')",
    "import functools\n@functools.lru_cache(maxsize=8)\ndef table(n):\n    return n",
    "import torch\nF = torch.nn.functional\ny = F.softmax(torch.ones(2), dim=-1)",
    "import torch\ny = torch.ones(2).detach().cpu().numpy()",
    "import torch\ndef f(x):\n    return getattr(x, 'shape'), hasattr(x, 'dtype')",
    "import torch\nx = torch.ones(2)\nx.untyped_storage()\nx[0] = 1\nx.data_ptr()",
    "import torch\nwith torch.no_grad():\n    y = torch.einsum('ij,jk->ik', a, b) @ c",
    "import copy\nd = copy.deepcopy({'a': 1})",
    "from dataclasses import dataclass\n@dataclass\nclass C:\n    x: int = 0",
    "class Tables:\n    _cache: dict = {}\n    def get(self):\n        return self._cache",
    "from dataclasses import dataclass\n@dataclass\nclass C:\n    pos: int = 0\n    index: int = 0",
    "import torch\nif (n := 3) > 2:\n    y = torch.ones(n)",
    "from dataclasses import dataclass\n@dataclass\nclass Config:\n    dim: int = 64\n"
    "    base: float = 10000.0\n    max_len: int = 2048\n    path: str = ''",
])
def test_honest_code_is_not_refused(source):
    assert not codes(source) & set(RULES)


def honest_files() -> list[Path]:
    files = sorted((ROOT / "solutions").glob("*.py"))
    files += [p for p in sorted((ROOT / "tests" / "fixtures").glob("*/*.py"))
              if re.search(r"^#\s*expect:\s*pass", p.read_text(), re.M)]
    return files


@pytest.mark.parametrize("path", honest_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_passing_answer_and_reference_reads_clean(path):
    found = analyse(path.read_text(), SDPA, ("transformers",)).findings
    assert not [f for f in found if f.code in RULES], found


def test_a_huge_expression_is_a_syntax_error_not_a_crash():
    report = analyse("x = " + " + ".join(["1"] * 100_000))
    assert report.syntax_error is None or "nested" in report.syntax_error or \
        "too" in report.syntax_error


def test_deep_nesting_is_reported_not_raised():
    report = analyse("x = " + "(" * 5000 + "1" + ")" * 5000)
    assert report.syntax_error


def test_a_module_outside_the_list_fails_the_rules_check():
    """A third-party module the sandbox happens to have must not slip through the
    rules check because its code is not tampering."""
    from drillpe.data import catalog
    from drillpe.grading.judge import rules_check

    result = rules_check(analyse("import scipy\n"), None, catalog.get("sinusoidal"), [])
    assert result.status == "fail" and result.diagnosis == ["rules.module_not_allowed"]
    assert "import scipy" in result.message
