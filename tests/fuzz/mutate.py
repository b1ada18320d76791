"""Seeded mutation of valid files for the fuzz tests (byte edits, JSON tree edits) and the runner that
feeds the cases to a reader, asserting that only documented errors escape and that memory stays bounded.

``RETROGRAD_FUZZ_SCALE`` multiplies every reader's case count (default 1: a few thousand cases in all,
a few seconds each); e.g. ``RETROGRAD_FUZZ_SCALE=50 pytest tests/fuzz -s`` for a long study.
"""
import copy
import json
import os
import random
import re
import time
import tracemalloc
import warnings
from collections import Counter

SCALE = float(os.environ.get("RETROGRAD_FUZZ_SCALE", "1"))

# reader -> (cases, Counter of outcomes, seconds, worst peak bytes, Counter of error kinds); printed by conftest.py
REPORT = {}

INTERESTING = [0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 1024, 4095,
               65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 2 ** 62, 2 ** 63 - 1,
               2 ** 63, 2 ** 64 - 1]


def case_count(n):
    return max(1, int(n * SCALE))


# ------------------------------------------------------------------------------------------ bytes
def truncate(rng, b):
    return b[:rng.randrange(len(b))] if b else b


def flip_bits(rng, b):
    out = bytearray(b)
    for _ in range(rng.randint(1, 4)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def set_bytes(rng, b):
    out = bytearray(b)
    for _ in range(rng.randint(1, 4)):
        if out:
            out[rng.randrange(len(out))] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
    return bytes(out)


def set_int(rng, b):
    """Overwrite 2, 4 or 8 bytes somewhere with an interesting integer (either byte order)."""
    if len(b) < 8:
        return flip_bits(rng, b)
    width = rng.choice([2, 4, 8])
    value = rng.choice(INTERESTING) % (1 << (8 * width))
    raw = value.to_bytes(width, rng.choice(["little", "big"]))
    pos = rng.randrange(len(b) - width + 1)
    return b[:pos] + raw + b[pos + width:]


def insert_bytes(rng, b):
    pos = rng.randrange(len(b) + 1)
    return b[:pos] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + b[pos:]


def delete_range(rng, b):
    if not b:
        return b
    pos = rng.randrange(len(b))
    return b[:pos] + b[pos + rng.randint(1, 32):]


def duplicate_range(rng, b):
    if not b:
        return b
    pos = rng.randrange(len(b))
    chunk = b[pos:pos + rng.randint(1, 64)]
    at = rng.randrange(len(b) + 1)
    return b[:at] + chunk + b[at:]


BYTE_MUTATORS = [truncate, flip_bits, set_bytes, set_int, insert_bytes, delete_range, duplicate_range]


def mutate_bytes(rng, b):
    """1 to 3 random byte-level edits; returns (label, bytes)."""
    names = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        op = rng.choice(BYTE_MUTATORS)
        b = op(rng, b)
        names.append(op.__name__)
    return "+".join(names), b


# ------------------------------------------------------------------------------------------- JSON
DEEP, HUGE_INT = "\x00deep\x00", "\x00hugeint\x00"
JSON_POOL = [None, True, False, 0, -1, 1, 2, 3, 7, 2 ** 31, 2 ** 62, 2 ** 63, 2 ** 64, 10 ** 30, -(10 ** 30),
             0.5, -0.0, 1e308, 2.5, "", "x", "F32", "I64", "U8", "O", "Linear", "Sequential", "__array__",
             [], {}, [1], [-1], [0, 0], [1, 2], [2 ** 40, 2 ** 40], [1.5], ["a", 1], {"type": "Linear"},
             {"type": "Sequential", "children": [["0", {"type": "Identity"}]]}, {"__dict__": []},
             {"__array__": "nope"}, "a" * 300, DEEP, HUGE_INT]


def _nodes(obj, path=(), out=None, limit=500):
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    out.append(path)
    if isinstance(obj, dict):
        for k, v in obj.items():
            _nodes(v, path + (k,), out, limit)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _nodes(v, path + (i,), out, limit)
    return out


def _get(obj, path):
    for k in path:
        obj = obj[k]
    return obj


def _pool_value(rng, depth=0):
    value = rng.choice(JSON_POOL)
    if value == DEEP:
        return DEEP + str(rng.choice([50, 70, 500, 5000, 20000]))
    if depth < 2 and rng.random() < 0.1:
        return [_pool_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return copy.deepcopy(value)


def mutate_tree(rng, obj):
    """Apply 1 to 3 structural edits to a deep copy of a JSON value: replace, delete, insert, retype."""
    obj = json.loads(json.dumps(obj))           # a deep copy, faster than copy.deepcopy for JSON
    names = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        paths = _nodes(obj)
        path = rng.choice(paths)
        op = rng.choice(["replace", "replace", "delete", "insert", "retype", "nudge"])
        names.append(op)
        if not path:
            if op in ("replace", "retype"):
                obj = _pool_value(rng)
            continue
        parent, key = _get(obj, path[:-1]), path[-1]
        node = parent[key]
        if op == "replace":
            parent[key] = _pool_value(rng)
        elif op == "delete":
            del parent[key]
        elif op == "insert":
            if isinstance(node, dict):
                node[rng.choice(["type", "args", "children", "shape", "dtype", "data_offsets", "extra",
                                 "__metadata__", "params", "state", "x"])] = _pool_value(rng)
            elif isinstance(node, list):
                node.insert(rng.randint(0, len(node)), _pool_value(rng))
            else:
                parent[key] = [node, _pool_value(rng)]
        elif op == "retype":
            if isinstance(node, dict):
                parent[key] = [[k, v] for k, v in node.items()]
            elif isinstance(node, list):
                parent[key] = {str(i): v for i, v in enumerate(node)}
            elif isinstance(node, bool):
                parent[key] = int(node)
            elif isinstance(node, (int, float)):
                parent[key] = rng.choice([str(node), float(node), [node], None, bool(node)])
            elif isinstance(node, str):
                parent[key] = rng.choice([len(node), [node], None, node[::-1], node + "x"])
        elif op == "nudge" and type(node) is int:
            parent[key] = rng.choice([node + 1, node - 1, -node, node * 2, node * 1000 + 7, node + 2 ** 32])
    return "tree:" + "+".join(names), obj


def dumps(obj):
    """JSON text of ``obj`` with the DEEP / HUGE_INT placeholders expanded (nesting, 5000-digit ints)."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=True)
    while DEEP in text:
        start = text.index('"' + DEEP)
        end = text.index('"', start + 1)
        depth = int(text[start + 1 + len(DEEP):end])
        text = text[:start] + "[" * depth + "]" * depth + text[end + 1:]
    return text.replace(json.dumps(HUGE_INT), "9" * 5000)


# ------------------------------------------------------------------------------------------ runner
def run_fuzz(reader, n, make_case, load, allowed, directory, suffix, peak_limit, trace_every=2, warmup=()):
    """Feed ``n`` cases from ``make_case(rng, i) -> (label, bytes)`` to ``load(path)``.

    ``suffix`` (or ``suffix(i)``) ends the file names. Every case must load or raise one of
    ``allowed``, naming the file. Every ``trace_every``-th
    call runs under tracemalloc, and its peak must stay under ``peak_limit(len(payload))`` bytes
    (tracing makes a call 5-10x slower, so not every one is traced; the table tests trace every
    size lie). The unmutated files in ``warmup`` ((bytes, suffix) pairs) must load; they are read
    first, untraced, so that first-time imports do not count as the reader's memory. Results go
    to REPORT[reader].
    """
    for k, (payload, sfx) in enumerate(warmup):
        path = directory / f"warmup{k}{sfx}"
        path.write_bytes(payload)
        load(path)
        path.unlink()
    rng = random.Random(f"retrograd-fuzz-{reader}")
    outcomes, kinds, worst = Counter(), Counter(), 0
    start = time.perf_counter()
    for i in range(n):
        label, payload = make_case(rng, i)
        # a fresh name per case, removed after it: rewriting one file in place costs ~5 ms a
        # case on ext4 (the flush that truncate-and-rewrite triggers), a new file ~0.5 ms
        path = directory / f"case{i}{suffix(i) if callable(suffix) else suffix}"
        path.write_bytes(payload)
        traced = i % trace_every == 0
        if traced:
            tracemalloc.start()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                load(path)
            outcomes["loaded"] += 1
        except allowed as exc:
            outcomes[type(exc).__name__] += 1
            kinds[_kind_of(str(exc), str(path))] += 1
            assert str(path) in str(exc), f"{reader} case {i} ({label}): the error does not name the file: {exc}"
        except Exception as exc:  # noqa: BLE001 - the point of the test: nothing else may escape
            raise AssertionError(f"{reader} case {i} ({label}): {type(exc).__name__} escaped: "
                                 f"{str(exc)[:300]}\npayload[:300] = {payload[:300]!r}") from exc
        finally:
            peak = tracemalloc.get_traced_memory()[1] if traced else 0
            tracemalloc.stop()
            path.unlink()
        worst = max(worst, peak)
        limit = peak_limit(len(payload))
        assert peak <= limit, (f"{reader} case {i} ({label}): allocated {peak} bytes for a "
                               f"{len(payload)}-byte file (limit {limit})")
    REPORT[reader] = (n, outcomes, time.perf_counter() - start, worst, kinds)
    return outcomes


def _kind_of(message, path):
    """The problem an error reports, without the file, array, line, numbers or quoted values."""
    text = message.replace(path, "").lstrip(":, ")
    text = re.sub(r"^(array '[^']*'|line \d+|column [^:]*)(, )?", "", text).lstrip(":, ")
    text = re.sub(r"^(array '[^']*'|line \d+|column [^:]*)(, )?", "", text).lstrip(":, ")
    text = re.sub(r"'[^']*'|\"[^\"]*\"|-?\d[\d.e+-]*", "_", text)
    return text[:60]
