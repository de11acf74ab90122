"""Packaged per-network configurations (JSON)."""
