"""Adapters around the frozen Lava stack (lava-nc 0.10.0, lava-dl 0.6.0); the only place that imports it."""
