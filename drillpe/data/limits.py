"""The ranges drillpe accepts for what a user sets: the CLI's options and the
notebook API check against the same numbers."""

MIN_TIMEOUT_S = 0.5
MAX_TIMEOUT_S = 3600.0
MAX_SEED = 2**63 - 1  # what torch's generators accept, with room for per-case seeds
MAX_MINUTES = 24 * 60.0
MAX_LEARNER_FILE = 16 * 1024 * 1024  # bytes: far beyond any answer, short of a memory hazard
