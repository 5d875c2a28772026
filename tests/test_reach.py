"""drillpe.grading.reach: where learner code runs with nothing around it (the guard
level, the bench's timing process), text made into code and frames of the stack are
refused, whoever's route leads there; what Python, traceback and the dataclass
decorator do with them themselves still works.

One child process runs every attempt: the refusals are an audit hook, which cannot
be removed from the process that installs it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REACH = Path(__file__).resolve().parent.parent / "drillpe" / "grading" / "reach.py"

# name -> code run with the hook armed
REFUSED = {
    "exec": "exec('x = 1')",
    "eval": "eval('1 + 1')",
    "compile": "compile('x = 1', 'f.py', 'exec')",
    "exec_in_a_thread": "t = threading.Thread(target=exec, args=('x = 1',)); t.start(); "
                        "t.join(); assert reach.refused",
    "getframe": "sys._getframe()",
    "inspect_currentframe": "inspect.currentframe()",
    "inspect_stack": "inspect.stack()",
    "walk_stack": "next(traceback.walk_stack(None))",
    "walk_tb_by_hand": "next(traceback.walk_tb(caught().__traceback__))",
    "tb_frame": "caught().__traceback__.tb_frame",
    "gi_frame": "(lambda: (yield))().gi_frame",
    "logging_currentframe": "logging.currentframe()",
    "source_to_code": "importlib._bootstrap_external.SourceLoader.source_to_code("
                      "None, b'x = 1', 'f.py')",
    # a string annotation evaluated: a reviewer's got any builtin by a name made at run time
    "forward_ref_evaluated": "typing.get_type_hints(annotated)",
    # the import chain, reading the model answer written into an in-memory file (a
    # reviewer's): its text is that "file's", but no file on disk holds it
    "memfd_loader": "fd = os.memfd_create('m'); os.write(fd, b'X = 2'); "
                    "importlib.machinery.SourceFileLoader('m', f'/proc/self/fd/{fd}').get_code('m')",
    # the import chain, with a loader whose get_data hands it other text than the file's
    "loader_with_other_text": "L = type('L', (importlib._bootstrap_external.SourceFileLoader,),"
                              " {'get_data': lambda self, p: b'x = 1'})('m', colorsys_file);"
                              " L.get_code('m')",
    # field names go into the source the dataclass decorator compiles
    "dataclass_odd_field": "dataclasses.dataclass(type('C', (), {'__annotations__': "
                           "{'x=1): pass\\nimport os#': int}}))",
    # a field the learner's file does not declare in a class body (a reviewer's class
    # built by type() had from_file and _create_fn, read off the modules by __eq__)
    "dataclass_undeclared_field": "dataclasses.dataclass(type('F', (), {'__annotations__': "
                                  "{'from_file': object}}))",
    # the compiling function called by a descriptor the decorator reads while it collects
    # the fields (a reviewer's ran the model answer's text so)
    "descriptor_in_the_decorator": "dataclasses.dataclass(type('E', (), {'__annotations__': "
                                   "{'x': object}, 'x': Desc()}))",
    # every object: a reviewer's found the bench's random draw this way and fixed it
    "gc_get_objects": "import gc; gc.get_objects()",
    # the same through a library's frame: copy.copy calls a partial set as __copy__ (a
    # reviewer's read the bench's signing key from what gc.get_referrers found)
    "gc_through_copy": "import copy, functools, gc; V = type('V', (), {}); "
                       "V.__copy__ = functools.partial(gc.get_referrers, V); copy.copy(V())",
    # an audit hook of its own runs its code at every audited event, drillpe's included
    "addaudithook": "sys.addaudithook(lambda event, args: None)",
    # the function that compiles them, called directly (Python 3.13 has none by that name)
    # fields named at run time after dunders (a reviewer's metaclass did): its generated
    # __eq__ read __globals__ and __closure__ off any object
    "dataclass_dunder_field": "dataclasses.dataclass(type('C', (), {'__annotations__': "
                              "{'__globals__': object}}))",
    "create_fn_direct": "getattr(dataclasses, '_create_fn', lambda *a: exec('x = 1'))"
                        "('f', [], ['return 1'])",
}
ALLOWED = {
    "format_exception": "traceback.format_exception(caught())",
    "extract_stack": "traceback.extract_stack()",
    "print_stack": "traceback.print_stack(file=io.StringIO())",
    "namedtuple": "collections.namedtuple('P', 'x y')(1, 2)",
    # fields the learner's file declares (x)
    "dataclass": "dataclasses.dataclass(type('D', (), {'__annotations__': {'x': int}}))",
    "logging": "logging.getLogger('t').warning('w')",
    "warnings": "warnings.warn('w')",
    "ast_parse": "ast.parse('x = 1')",
    "import_a_file": "import reach_probe_module; assert reach_probe_module.X == 1",
    # library code taking a frame for itself (torch's and typing's look up their caller)
    "library_takes_a_frame": "import reach_probe_module; assert reach_probe_module.line() > 0",
    # a string annotation is compiled (torch's classes have them), never evaluated
    "forward_ref_compiled": "typing.Optional['getattr']",
}

CHILD = """
import ast, collections, dataclasses, importlib._bootstrap_external, importlib.machinery
import importlib.util, inspect
import io, json, logging, sys, threading, traceback, typing, warnings
logging.basicConfig(stream=io.StringIO())
warnings.simplefilter("ignore")
spec = importlib.util.spec_from_file_location("reach", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)

def caught():
    try:
        1 / 0
    except ZeroDivisionError as exc:
        return exc

import colorsys, os, tempfile
colorsys_file = colorsys.__file__
sys.dont_write_bytecode = True  # so that the import compiles the file's text
probe_dir = tempfile.mkdtemp()
with open(os.path.join(probe_dir, "reach_probe_module.py"), "w") as f:
    f.write("import sys\\nX = 1\\ndef line():\\n    return sys._getframe(0).f_lineno\\n")
sys.path.insert(0, probe_dir)

class Desc:
    def __get__(self, obj, owner):
        make = getattr(dataclasses, "_create_fn", None)
        return make("f", [], ["return 1"]) if make else exec("x = 1")


def annotated(x: "int"):
    pass

reach = mod.Reach(learner_file="learner.py", declared=frozenset({"x"}))
reach.arm()
out = {}
for name in json.loads(sys.argv[2]):
    before = len(reach.refused)
    try:
        exec(COMPILED[name], globals())
        out[name] = "ran" if len(reach.refused) == before else "refused"
    except PermissionError as exc:
        out[name] = "refused" if "drillpe" in str(exc) else f"PermissionError {exc}"
    except Exception as exc:
        out[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"out": out, "refused": reach.refused}))
"""


@pytest.fixture(scope="module")
def attempts():
    every = {**REFUSED, **ALLOWED}
    # each attempt is compiled before the hook is armed: compile itself is refused after
    # (under the learner's file name: whose code asks decides)
    child = CHILD.replace("reach = mod.Reach(", "COMPILED = {n: compile(c, 'learner.py', 'exec') "
                          "for n, c in json.loads(sys.argv[2]).items()}\nreach = mod.Reach(")
    res = subprocess.run([sys.executable, "-c", child, str(REACH), json.dumps(every)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_text_made_code_and_frames_are_refused(attempts, name):
    assert attempts["out"][name] == "refused", attempts["out"][name]


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_what_python_does_with_them_itself_still_works(attempts, name):
    assert attempts["out"][name] == "ran", attempts["out"][name]


def test_each_refusal_is_recorded_with_where_it_happened(attempts):
    said = attempts["refused"]
    assert any(s.startswith("built code from text at run time, at ") for s in said)
    assert any(s.startswith("took a frame of the running program (sys._getframe)") for s in said)
    assert any("tb_frame" in s for s in said)
