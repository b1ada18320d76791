"""Checkpoints read through the safetensors reader: a damaged or foreign training state is a
SafetensorsError naming the file, checked before it is applied; a BatchNorm run resumes exactly."""
import json

import numpy as np
import pytest

import retrograd as rg
from retrograd.io import SafetensorsError, load_tensors, save_tensors
from retrograd.training import load_checkpoint
from retrograd.training.trainer import Trainer

X = np.random.default_rng(0).normal(size=(12, 2))
Y = X[:, :1] * X[:, 1:]


def trainer_after(path, epochs, resume=None):
    rg.manual_seed(3)
    model = rg.nn.Sequential(rg.nn.Linear(2, 4), rg.nn.Tanh(), rg.nn.BatchNorm1d(4), rg.nn.Linear(4, 1))
    trainer = Trainer(model, "mse", rg.optim.Adam(model.parameters(), lr=0.01), batch_size=4, checkpoint=path,
                      quiet=True)
    trainer.fit((X, Y), epochs=epochs, resume=resume)
    return trainer


def test_a_batchnorm_run_resumes_bit_for_bit(tmp_path):
    full = trainer_after(tmp_path / "full.ckpt", 4)
    trainer_after(tmp_path / "part.ckpt", 2)
    resumed = trainer_after(tmp_path / "part.ckpt", 4, resume=tmp_path / "part.ckpt")
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        np.testing.assert_array_equal(a.data, b.data)
    assert int(resumed.model[2].num_batches_tracked.data) == 4 * 3


def test_a_trained_batchnorm_model_takes_a_state_dict_and_a_checkpoint(tmp_path):
    trainer = trainer_after(tmp_path / "a.ckpt", 2)          # its counter was a NumPy scalar after training
    saved = {k: v.data.copy() for k, v in trainer.model.state_dict().items()}
    trainer.model.load_state_dict(saved)
    load_checkpoint(trainer, tmp_path / "a.ckpt")
    assert trainer.model[2].num_batches_tracked.data.shape == () and trainer.epoch == 2


def _edit_state(src, dst, edit):
    arrays, meta = load_tensors(src)
    text = meta["state"]
    state = json.loads(text)
    edit(state, arrays, meta)
    if meta.get("state") == text:            # the edit did not replace or remove the text itself
        meta["state"] = json.dumps(state)
    save_tensors(arrays, dst, meta)


def _group(state):
    return state["optimizer"]["__dict__"][1][1][0]["__dict__"]      # param_groups[0] as [key, value] pairs


def _set(pairs, key, value):
    for pair in pairs:
        if pair[0] == key:
            pair[1] = value


# (edit of the state, message fragment)
BAD_STATES = [
    (lambda s, a, m: m.update(format="something-else"), "not a retrograd training checkpoint"),
    (lambda s, a, m: m.update(version="99"), "format version '99'"),
    (lambda s, a, m: m.pop("state"), "no training state"),
    (lambda s, a, m: s.clear(), "must be an object with 'trainer', 'optimizer'"),
    (lambda s, a, m: s.pop("global_rng"), "must be an object with 'trainer', 'optimizer'"),
    (lambda s, a, m: s["trainer"].update(epoch="3"), "an epoch count"),
    (lambda s, a, m: s["trainer"].update(epoch=-1), "an epoch count"),
    (lambda s, a, m: _set(_group(s), "lr", "fast"), "lr = 'fast' where this optimizer has 0.01"),
    (lambda s, a, m: _set(_group(s), "betas", [0.9]), "betas = [0.9]"),
    (lambda s, a, m: _group(s).append(["momentum", 0.9]), "written by another optimizer"),
    (lambda s, a, m: _set(_group(s), "params", [0, 1]), "lists [0, 1] where this optimizer has 6"),
    (lambda s, a, m: s["optimizer"]["__dict__"][0][1]["__dict__"].append([17, {"__dict__": []}]),
     "optimizer state for parameter 17, but there are 6"),
    (lambda s, a, m: a.update({"optimizer.state.0.exp_avg": np.zeros(3, np.float32)}),
     "where an array of the parameter's shape (2, 4)"),
    (lambda s, a, m: s["optimizer"]["__dict__"][0][1]["__dict__"][0][1]["__dict__"].append(["step", None]),
     "where an array of the parameter's shape (2, 4) or a number belongs"),
    (lambda s, a, m: a.pop("optimizer.state.0.exp_avg"), "refers to an array 'optimizer.state.0.exp_avg'"),
    (lambda s, a, m: s["callbacks"].append(None), "written with 3 callbacks"),
    (lambda s, a, m: s["optimizer"].update({"__dict__": "x"}), "unexpected object"),
    (lambda s, a, m: s["callbacks"].__setitem__(0, json.loads("[" * 40 + "]" * 40)), "nests deeper than 32"),
    (lambda s, a, m: s["global_rng"].update(state="bad"), "does not fit this run (TypeError"),
    (lambda s, a, m: a.update({"model.2.running_mean": np.zeros(4, np.float64)}), "does not fit this run"),
]


@pytest.mark.parametrize("edit,fragment", BAD_STATES, ids=[f"state{i}" for i in range(len(BAD_STATES))])
def test_damaged_training_states_are_safetensors_errors_naming_the_file(tmp_path, edit, fragment):
    trainer = trainer_after(tmp_path / "base.ckpt", 1)
    _edit_state(tmp_path / "base.ckpt", tmp_path / "bad.ckpt", edit)
    with pytest.raises(SafetensorsError) as info:
        load_checkpoint(trainer, tmp_path / "bad.ckpt")
    assert str(info.value).startswith(f"{tmp_path / 'bad.ckpt'}: ") and fragment in str(info.value), str(info.value)


def test_an_unparsable_state_is_a_safetensors_error(tmp_path):
    trainer = trainer_after(tmp_path / "base.ckpt", 1)
    for text, fragment in (("{not json", "JSONDecodeError"), ("[" * 100_000 + "]" * 100_000, "RecursionError")):
        _edit_state(tmp_path / "base.ckpt", tmp_path / "bad.ckpt", lambda s, a, m: m.update(state=text))
        with pytest.raises(SafetensorsError, match=fragment):
            load_checkpoint(trainer, tmp_path / "bad.ckpt")
