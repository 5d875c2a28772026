"""drillpe: practise positional encodings from scratch, graded by hidden references."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `drillpe.check` pulls in the runner only when used: `import drillpe` stays light.
    if name == "check":
        # deferred: the notebook API loads on first use, so `import drillpe` stays light
        from drillpe.notebook import check

        return check
    raise AttributeError(f"module 'drillpe' has no attribute {name!r}")
