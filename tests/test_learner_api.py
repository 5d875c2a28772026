"""How the learner's process describes the functions a file defines
(drillpe.grading.learner.describe_params), which the signature check compares with
the exercise's API. The fixtures (tests/fixtures/*/) grade whole files; this reads
the description itself."""

import functools

import torch

from drillpe.grading.learner import describe_params


def rope(q, k, base=10000.0):
    return q, k


def test_a_decorators_wrapper_is_read_as_the_function_it_wraps():
    # torch's own decorator, and one written with functools.wraps, two levels deep
    def logged(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs)
        return wrapper

    plain = describe_params(rope, drop_self=False)
    assert [p[0] for p in plain] == ["q", "k", "base"] and plain[2][3] == 10000.0
    assert describe_params(torch.no_grad()(rope), drop_self=False) == plain
    assert describe_params(logged(torch.no_grad()(rope)), drop_self=False) == plain


def test_a_wrapper_with_parameters_of_its_own_is_read_as_it_is():
    # it binds what it declares, whatever it calls: (q) is what a call can pass it
    def narrower(q):
        return rope(q, q)
    narrower.__wrapped__ = rope
    assert [p[0] for p in describe_params(narrower, drop_self=False)] == ["q"]

    def loop(*args, **kwargs):  # a cycle of __wrapped__ ends, and reads the last one
        return None
    loop.__wrapped__ = loop
    assert [p[1] for p in describe_params(loop, drop_self=False)] == ["VAR_POSITIONAL",
                                                                       "VAR_KEYWORD"]
