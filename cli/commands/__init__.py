"""One module per `twostream` subcommand."""
