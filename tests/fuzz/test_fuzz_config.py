"""Fuzz the TOML / JSON config reader (``retrograd train config.toml``): byte edits and value edits of
the shipped example configs; only ConfigError escapes, naming the file."""
import json
from pathlib import Path

from retrograd.cli import config as cfgmod

from .mutate import case_count, dumps, mutate_bytes, mutate_tree, run_fuzz

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "configs").glob("*.toml"))


def _as_json(path):
    return json.dumps(cfgmod.read_config_file(path)[0]).encode()


def test_fuzz_config_files(tmp_path):
    tomls = [p.read_bytes() for p in EXAMPLES]
    jsons = [_as_json(p) for p in EXAMPLES]
    assert tomls, "no example configs found"

    def make_case(rng, i):
        if i % 2:                              # odd cases are .json files (the reader goes by suffix)
            base = jsons[i % len(jsons)]
            if rng.random() < 0.5:
                label, tree = mutate_tree(rng, json.loads(base))
                return "json-" + label, dumps(tree).encode()
            label, out = mutate_bytes(rng, base)
            return "json-bytes:" + label, out
        label, out = mutate_bytes(rng, tomls[i % len(tomls)])
        return "toml-bytes:" + label, out

    outcomes = run_fuzz("config", case_count(800), make_case, cfgmod.load, (cfgmod.ConfigError,), tmp_path,
                        lambda i: ".json" if i % 2 else ".toml", peak_limit=lambda size: 1_000_000 + 200 * size,
                        warmup=[(t, ".toml") for t in tomls + [b""]] + [(j, ".json") for j in jsons])
    assert outcomes["ConfigError"] > 0.3 * sum(outcomes.values())
    assert outcomes["loaded"] > 0
