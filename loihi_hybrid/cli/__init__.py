"""Command-line entry points (argument parsing only; the work is done in the package)."""
