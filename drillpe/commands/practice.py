"""The practice loop: stats, watch, mock interviews, what to practise next."""
