"""loihi-hybrid: hybrid ANN-SNN co-training on the Lava stack, from training to Loihi 2 deployment."""
__version__ = "0.1.0"
