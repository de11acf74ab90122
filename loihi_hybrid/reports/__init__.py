"""Human-facing output: tables and plots."""
