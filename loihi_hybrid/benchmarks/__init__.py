"""Speed and memory measurements (``scripts/bench.py``, the reproduction report); each figure is taken in
a fresh process so that its peak memory is its own."""
import resource


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
