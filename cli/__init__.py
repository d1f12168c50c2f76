"""The `twostream` command line."""
