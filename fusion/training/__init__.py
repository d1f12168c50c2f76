"""Training fusion heads: the loop, tasks, losses, Algorithm 1, evaluation, run folders and per-video analysis."""
