"""What every stage shares and that needs no model: errors, file I/O, runtime, datasets, sampling, metrics."""
