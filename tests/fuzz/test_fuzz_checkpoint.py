"""Fuzz resuming from checkpoints: byte edits, edits of the JSON training state (re-signed so they pass
the digest), edits of the stored arrays; load_checkpoint lets only SafetensorsError escape."""
import json

import numpy as np

import retrograd as rg
from retrograd.io import SafetensorsError
from retrograd.training import EarlyStopping, load_checkpoint
from retrograd.training.trainer import Trainer

from .mutate import case_count, dumps, mutate_bytes, mutate_tree, run_fuzz
from .test_fuzz_safetensors import assemble, signed, split


def trained(path, optimizer):
    """A Trainer after a short real run that wrote its checkpoint to ``path`` (the fuzz base)."""
    rg.manual_seed(3)
    model = rg.nn.Sequential(rg.nn.Linear(2, 4), rg.nn.Tanh(), rg.nn.BatchNorm1d(4), rg.nn.Linear(4, 1))
    opt = optimizer(model.parameters())
    sched = rg.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    trainer = Trainer(model, "mse", opt, batch_size=2, stop=EarlyStopping(patience=5), scheduler=sched,
                      checkpoint=path, quiet=True)
    X = np.random.default_rng(0).normal(size=(8, 2))
    trainer.fit((X, X[:, :1] * X[:, 1:]), epochs=3, validation_split=0.25)
    return trainer


def state_case(rng, raw):
    header, data = split(raw)
    state = json.loads(header["__metadata__"]["state"])
    label, state = mutate_tree(rng, state)
    header["__metadata__"]["state"] = dumps(state)
    return "state-" + label, assemble(json.dumps(signed(header, data)), data)


def array_case(rng, raw):
    """Change one stored array's dtype/shape in the header (offsets kept consistent) and re-sign."""
    header, data = split(raw)
    names = [k for k in header if k != "__metadata__"]
    name = rng.choice(names)
    entry = header[name]
    count = int(np.prod(entry["shape"]))
    entry["shape"] = rng.choice([[count], [1, count], [count, 1], [], [0]]) if count == 1 or rng.random() < 0.5 \
        else [count]
    if entry["shape"] == [0] or (entry["shape"] == [] and count != 1):
        entry["shape"] = [count]
    if rng.random() < 0.5 and entry["dtype"] in ("F32", "I32"):
        entry["dtype"] = "I32" if entry["dtype"] == "F32" else "F32"
    return f"array-{name}", assemble(json.dumps(signed(header, data)), data)


def test_fuzz_load_checkpoint(tmp_path):
    trainers, bases = [], []
    for k, make_optimizer in enumerate([lambda p: rg.optim.Adam(p, lr=0.01),
                                        lambda p: rg.optim.SGD(p, lr=0.1, momentum=0.9)]):
        path = tmp_path / f"base{k}.ckpt"
        trainers.append(trained(path, make_optimizer))
        bases.append(path.read_bytes())

    def make_case(rng, i):
        raw = bases[i % 2]
        kind = rng.random()
        if kind < 0.55:
            return state_case(rng, raw)
        if kind < 0.7:
            return array_case(rng, raw)
        label, out = mutate_bytes(rng, raw)
        return "bytes:" + label, out

    count = [0]

    def load(path):
        trainer = trainers[count[0] % 2]
        count[0] += 1
        load_checkpoint(trainer, path)

    outcomes = run_fuzz("checkpoint", case_count(1000), make_case, load, (SafetensorsError,), tmp_path, ".ckpt",
                        peak_limit=lambda size: 1_000_000 + 50 * size)
    assert outcomes["SafetensorsError"] > 0.5 * sum(outcomes.values())
    assert outcomes["loaded"] > 0
