"""Tools around the grader: bench, doctor."""
