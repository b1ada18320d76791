"""Fuzz the safetensors reader and rg.load: byte edits, header JSON edits (re-signed so they pass the
digest and reach the structural checks), architecture edits; only SafetensorsError escapes."""
import json
import struct
import tempfile

import numpy as np

import retrograd as rg
from retrograd import nn
from retrograd.io import SafetensorsError, load_tensors
from retrograd.io.safetensors_format import DIGEST_KEY, _digest

from .mutate import case_count, dumps, mutate_bytes, mutate_tree, run_fuzz

ARCH_KEY = "retrograd.architecture"


def split(raw):
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def assemble(header_text, data):
    blob = header_text.encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    return struct.pack("<Q", len(blob)) + blob + data


def signed(header, data):
    """Header JSON text with a digest that matches, as rg.save would write, when the offsets allow one."""
    header = json.loads(json.dumps(header))
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if isinstance(meta, dict):
        meta.pop(DIGEST_KEY, None)
        try:
            chunks = [data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"]
            meta[DIGEST_KEY] = _digest(header, chunks)
        except (TypeError, KeyError, IndexError, AttributeError):
            pass
    return header


def _model_file(model):
    with tempfile.TemporaryDirectory() as d:
        rg.save(model, f"{d}/m.safetensors")
        with open(f"{d}/m.safetensors", "rb") as f:
            return f.read()


rg.manual_seed(0)
MODELS = [
    _model_file(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.BatchNorm1d(4), nn.Residual(nn.Linear(4, 4)),
                              nn.Dropout(0.1), nn.Linear(4, 2))),
    _model_file(nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(),
                              nn.Linear(8, 3), nn.LeakyReLU(0.2))),
    _model_file(nn.ModuleDict({"enc": nn.GRU(3, 2, num_layers=2, bidirectional=True), "norm": nn.LayerNorm(4),
                               "emb": nn.Embedding(5, 2)})),
]
PLAIN = [_model_file({"f64": np.arange(6.0).reshape(2, 3), "i8": np.arange(3, dtype=np.int8),
                      "bool": np.array([True, False]), "f16": np.ones((2, 2), np.float16),
                      "scalar": np.array(1.5), "empty": np.zeros((0, 3), np.float32)})]


def unsigned(raw):
    header, data = split(raw)
    header["__metadata__"].pop(DIGEST_KEY)
    return assemble(json.dumps(header), data)


BASES = MODELS + PLAIN + [unsigned(b) for b in MODELS + PLAIN]


def header_case(rng, raw):
    header, data = split(raw)
    label, header = mutate_tree(rng, header)
    if rng.random() < 0.7:
        header = signed(header, data)
    return label, assemble(dumps(header), data)


def architecture_case(rng, raw):
    header, data = split(raw)
    desc = json.loads(header["__metadata__"][ARCH_KEY])
    label, desc = mutate_tree(rng, desc)
    header["__metadata__"][ARCH_KEY] = dumps(desc)
    return "arch-" + label, assemble(json.dumps(signed(header, data)), data)


def make_case(rng, i):
    raw = BASES[i % len(BASES)]
    kind = rng.random()
    if kind < 0.4:
        return header_case(rng, raw)
    if kind < 0.7 and i % len(BASES) < len(MODELS):
        return architecture_case(rng, raw)
    label, out = mutate_bytes(rng, raw)
    return "bytes:" + label, out


def test_fuzz_load_tensors(tmp_path):
    outcomes = run_fuzz("safetensors", case_count(1200), make_case, load_tensors, (SafetensorsError,), tmp_path,
                        ".safetensors", peak_limit=lambda size: 500_000 + 40 * size)
    assert outcomes["SafetensorsError"] > 0.4 * sum(outcomes.values())
    assert outcomes["loaded"] > 0


def test_fuzz_rg_load_model_files(tmp_path):
    def model_case(rng, i):
        raw = MODELS[i % len(MODELS)]
        return architecture_case(rng, raw) if rng.random() < 0.7 else header_case(rng, raw)
    outcomes = run_fuzz("model files", case_count(1200), model_case, rg.load, (SafetensorsError,), tmp_path,
                        ".safetensors", peak_limit=lambda size: 1_000_000 + 100 * size)
    assert outcomes["SafetensorsError"] > 0.4 * sum(outcomes.values())
    assert outcomes["loaded"] > 0
