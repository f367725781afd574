"""Subcommands of the `mn` tool; each module has add_arguments(parser) and run(args) -> int."""
