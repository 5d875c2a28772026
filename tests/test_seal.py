"""The seal over drillpe's own state in the bench's timing process (seal.take):
what it must see changed, what it must let be, and that its check runs nothing the
learner's code could have put in place of a builtin or a module's name."""

import _thread
import builtins
import sys
import types

import pytest

from drillpe.grading import seal


@pytest.fixture
def probe():
    """A drillpe module of the test's own (the seal covers every drillpe.* module),
    with a function, a class, a closure and a table, as the timing code has."""
    module = types.ModuleType("drillpe._seal_probe")

    def outer():
        kept = [1]

        def inner(x=1, *, y=2):
            return kept, x, y
        return inner

    class Probe:
        def method(self):
            return 1

    module.fn = outer()
    module.Probe = Probe
    module.TABLE = {"a": [1, 2], "b": (3, {"c": 4})}
    module.COUNT = 0
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def test_nothing_changed_is_nothing_found(probe):
    broken = seal.take()
    assert broken() == []
    assert broken() == []  # the check itself changes nothing


@pytest.mark.parametrize("change, found", [
    (lambda m: setattr(m, "fn", len), "drillpe._seal_probe.fn"),
    (lambda m: setattr(m, "sorted", len), "drillpe._seal_probe.sorted (added)"),
    (lambda m: delattr(m, "COUNT"), "drillpe._seal_probe.COUNT (removed)"),
    (lambda m: setattr(m, "TABLE", dict(m.TABLE)), "drillpe._seal_probe.TABLE"),
    (lambda m: m.TABLE.update(a=[1, 2]), "drillpe._seal_probe.TABLE (its contents)"),
    (lambda m: m.TABLE["a"].append(3), "drillpe._seal_probe.TABLE[…] (its contents)"),
    (lambda m: m.TABLE["b"][1].update(c=5), "drillpe._seal_probe.TABLE[…][…] (its contents)"),
    (lambda m: setattr(m.Probe, "method", lambda self: 2), "Probe.method"),
    (lambda m: setattr(m.Probe, "__getattribute__", object.__getattribute__),
     "Probe.__getattribute__ (added)"),
    (lambda m: setattr(m.fn, "__defaults__", (5,)), "(its code, defaults or closure)"),
    (lambda m: m.fn.__kwdefaults__.update(y=3), "(its code, defaults or closure)"),
    (lambda m: setattr(m.fn.__closure__[0], "cell_contents", [2]),
     "(its code, defaults or closure)"),
    (lambda m: setattr(m.fn, "__code__", m.fn.__code__.replace(co_name="other")),
     "(its code, defaults or closure)"),
])
def test_a_change_is_found(probe, change, found):
    broken = seal.take()
    change(probe)
    assert any(found in line for line in broken()), broken()


def test_a_replaced_builtin_is_found_and_not_run(probe):
    """A reviewer's replaced sorted, which the comparison before the seal ran its
    findings through, hid its own change with it; the check runs none of them."""
    broken = seal.take()
    names = ("sorted", "len", "type", "id", "tuple", "any", "isinstance", "str")
    saved = dict(vars(builtins))
    checking = _thread.get_ident()

    def refuse(name):
        # other threads of this process (xdist's channel to the controller) go on
        # using the builtins they meant
        def replaced(*args, **kwargs):
            if _thread.get_ident() == checking:
                raise AssertionError("the seal's check ran a replaced builtin")
            return saved[name](*args, **kwargs)
        return replaced

    replacements = {name: refuse(name) for name in names}
    try:
        for name in names:
            vars(builtins)[name] = replacements[name]
        found = broken()
    finally:  # with nothing that needs a builtin (pytest's own undo would)
        vars(builtins).update(saved)
    assert found == sorted(f"builtins.{name}" for name in names)


def test_a_name_that_is_not_a_plain_str_is_found_without_hashing_it(probe):
    armed = []

    class Loud(str):
        def __hash__(self):
            assert not armed, "hashed"
            return str.__hash__(self)

        def __eq__(self, other):
            assert not armed, "compared"
            return str.__eq__(self, other)

    broken = seal.take()
    vars(probe)[Loud("fill")] = 1
    armed.append(True)
    assert broken() == ["drillpe._seal_probe.<a name that is not a plain str>"]


def test_what_drillpe_changes_as_it_runs_is_let_be(probe):
    """A submodule imported later is a name its package gains; a name declared
    moving (bench_child.MOVING: a counter of drillpe's) may change."""
    broken = seal.take(moving=[(probe, "COUNT")])
    probe.COUNT += 1
    sub = types.ModuleType("drillpe._seal_probe.sub")
    sys.modules[sub.__name__] = sub
    try:
        probe.sub = sub
        assert broken() == []
        probe.other = types.ModuleType("drillpe._seal_probe.other")  # not imported: added
        assert broken() == ["drillpe._seal_probe.other (added)"]
    finally:
        del sys.modules[sub.__name__]


def test_a_key_planted_in_sys_modules_is_not_compared_for_an_added_submodule(probe):
    """A reviewer's put a str subclass into sys.modules with the hash of a submodule
    name it then added to a drillpe package, with that module in sys.modules too: the
    seal's lookup of the added name there ran the key's __eq__ at every check (where it
    did the timed calls' work). sys.modules' keys are looked at first, unhashed."""
    compared = []
    sub = types.ModuleType("drillpe._seal_probe.planted")

    class Planted(str):
        def __hash__(self):
            return hash("drillpe._seal_probe.planted")

        def __eq__(self, other):
            compared.append(other)
            return False

    broken = seal.take()
    key = Planted("x")
    sys.modules[key] = sub
    sys.modules[sub.__name__] = sub
    try:
        probe.planted = sub
        compared.clear()  # (the insertion above compared the two keys)
        assert broken() == ["drillpe._seal_probe.planted (added)"]
        assert compared == []
    finally:
        del sys.modules[sub.__name__]
        sys.modules.pop(key)


def test_what_grows_past_the_allowance_is_found_without_being_looked_at(probe):
    """What a check costs must not grow with what the learner's code adds: a reviewer's
    added two million names to a module whose new names do not count, and the check
    after each phase's calls became a window of its choosing."""
    broken = seal.take()
    names = [f"_pad_{n}" for n in range(seal.GROWTH + 1)]
    try:
        for name in names:
            setattr(builtins, name, 0)  # new builtins do not count, up to the allowance
        assert broken() == [f"builtins.<{seal.GROWTH + 1} names added>"]
        probe.TABLE.update({name: 0 for name in names})
        assert "drillpe._seal_probe.TABLE (its contents)" in broken()
    finally:
        for name in names:
            delattr(builtins, name)
