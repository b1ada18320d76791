"""Run the timed repeats of several set-ups in turn (A, B, C, A, B, C, ...) instead of in blocks.

The shared machine's speed drifts over seconds. Run in blocks, one framework
can land in a slow stretch and another in a fast one; run in turn, every
set-up sees the same drift, so the ratios of one run stay fair even when the
absolute times wander. Used by the W2, W4 and W5 benchmarks.
"""
from peers_path import common

C = common()


def interleave(runners, repeats):
    """Run the runners' repeats alternately and emit each runner's record; returns the records.

    ``runners`` are ``(once, report)`` pairs: ``once()`` -> (seconds, info) runs
    one timed repeat, ``report(times, info)`` emits the record (``common.emit``).
    ``foreign_cores`` (how many cores other processes kept busy) stays per runner.
    """
    times = [[] for _ in runners]
    foreign = [[] for _ in runners]
    infos = [None] * len(runners)
    for _ in range(repeats):
        for k, (once, _) in enumerate(runners):
            t, infos[k] = C.run_repeats(once, repeats=1)
            times[k] += t
            foreign[k].append(C.FOREIGN.pop())
    records = []
    for k, (_, report) in enumerate(runners):
        C.FOREIGN[:] = foreign[k]
        records.append(report(times[k], infos[k]))
    return records
