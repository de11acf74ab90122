"""Running exported networks: the back ends behind one registry (``registry``: ``emu``, ``sim``,
``loihi2``), energy and fit estimates (``energy``), and the Lava adapters (``lava/``, the only back-end
code that imports Lava)."""
