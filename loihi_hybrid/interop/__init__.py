"""Exchange formats beside NetX: the exported fixed-point network as a NIR graph (``nir``), and a run of such a
graph in an outside library, snnTorch (``nir_snntorch``). Both need the optional ``nir`` extra."""
