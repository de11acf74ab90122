"""Speed and memory measurements (``scripts/bench.py``, the reproduction report); each figure is taken in
a fresh process so that its peak memory is its own."""
import resource

#: the ratios ``scripts/bench.py`` reports, in its order
RATIO_KEYS = ("hybrid_step_vs_ann_step", "bptt_step_vs_hybrid_step", "bptt_peak_mem_vs_hybrid",
              "hybrid_mem_T64_vs_T16", "lava_sim_s_per_sample", "emulation_vs_lava_sim")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
