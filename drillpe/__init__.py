"""drillpe: practise positional encodings from scratch, graded by hidden references."""

__version__ = "0.1.0"
