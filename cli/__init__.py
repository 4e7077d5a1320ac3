"""The command line: each module here with a `register(subparsers)` function adds one command."""
