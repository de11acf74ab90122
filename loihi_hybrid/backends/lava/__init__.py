"""Lava adapters (the only deploy code that imports Lava): network builder, probes, run back ends."""
