"""Entry point for `python -m twostream.cli`."""
import sys

from twostream.cli.main import main

# The guard matters: dask's worker processes re-import the main module when they start.
if __name__ == "__main__":
    sys.exit(main())
