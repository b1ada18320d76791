"""Run the repeats of several set-ups in turn (A, B, C, A, B, C, ...) instead of in blocks.

The shared machine's speed drifts over seconds. Run in blocks, one framework
can land in a slow stretch and the other in a fast one; run in turn, every
set-up sees the same drift, so the ratios of one run stay fair even when the
absolute times wander.
"""
from peers_path import common

C = common()


def run_in_turn(onces, repeats):
    """``onces``: {label: once() -> (seconds, info)}. Returns {label: (times, last info, foreign cores)}.

    ``foreign cores`` is, per repeat, how many cores other processes kept busy
    meanwhile (as ``common.run_repeats`` measures it).
    """
    results = {label: ([], None, []) for label in onces}
    for _ in range(repeats):
        for label, once in onces.items():
            times, _, foreign = results[label]
            b0, o0, w0 = C._cpu_snapshot()
            t, info = once()
            b1, o1, w1 = C._cpu_snapshot()
            foreign.append(round(max(0.0, ((b1 - b0) - (o1 - o0)) / max(1e-9, w1 - w0)), 2))
            times.append(t)
            results[label] = (times, info, foreign)
    return results


def emit(label, workload, times, foreign, **fields):
    """``common.emit`` with this set-up's own foreign-core figures."""
    C.FOREIGN[:] = foreign
    return C.emit(label, workload, times, **fields)
