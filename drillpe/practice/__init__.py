"""The practice wing: watch, the mock interview, its live round, and the
schedule of what to practise next. These own the terminal while they run."""
