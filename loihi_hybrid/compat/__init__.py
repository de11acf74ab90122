"""Adapters around the frozen Lava stack (lava-nc 0.10.0, lava-dl 0.6.0): the Python 3.11 fixes
(``lava_py311``) and the SLAYER operations the models are built from (``slayer_ops``, lazy). The other
modules that import Lava are listed in the README ("Where Lava is imported")."""
