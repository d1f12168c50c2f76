"""Entry point for `python -m twostream.cli`."""
import sys

from twostream.cli.main import main

sys.exit(main())
