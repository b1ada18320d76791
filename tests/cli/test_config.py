"""Config validation: each mistake is rejected with the key, the file and line, and what is allowed."""
import pytest

from retrograd.cli import config as cfg
from retrograd.cli.config import ConfigError
from retrograd.cli.setup import with_preset

# (TOML text, fragments that must all appear in the message)
BAD = [
    ('[model]\nhiden = [3]\n', ["line 2", "unknown key 'hiden' in [model]", "allowed keys: hidden"]),
    ('[modle]\nhidden = [3]\n', ["line 1", "unknown section [modle]", "allowed sections: data"]),
    ('[train]\nmode = "fast"\n', ["line 2", "[train] mode = 'fast' is not allowed", "online, batch, minibatch"]),
    ('[train]\nepochs = "ten"\n', ["line 2", "[train] epochs = 'ten' must be an integer"]),
    ('[train]\nepochs = 0\n', ["[train] epochs = 0 must be > 0"]),
    ('[train]\nvalidation_split = 1.5\n', ["validation_split = 1.5 must be in [0, 1)"]),
    ('[model]\nhidden = [3, -1]\n', ["line 2", "a list of positive integers"]),
    ('[model]\nactivation = "relux"\n', ["line 2", "activation = 'relux' is unknown", "relu"]),
    ('[model]\ninit = "magic"\n', ["init = 'magic' is unknown", "xavier_uniform"]),
    ('[data]\nname = "mnist2d"\n', ["line 2", "name = 'mnist2d' is not allowed", "mnist1d"]),
    ('[data]\nname = "csv"\n', ["line 2", "needs [data] path"]),
    ('[optimizer]\nname = "adam"\nmomentum = 0.9\n', ["line 3", "'momentum' is not a parameter of optimizer 'adam'",
                                                     "allowed: lr, betas"]),
    ('[optimizer]\nname = "adamm"\n', ["line 2", "name = 'adamm' is unknown", "adam"]),
    ('[loss]\nname = "hinge"\n', ["line 2", "[loss] name = 'hinge' is unknown", "cross_entropy"]),
    ('[stop]\npatience = "soon"\n', ["line 2", "[stop] patience = 'soon' must be an integer"]),
    ('[stop]\nbit_fail = 2.0\n', ["bit_fail = 2.0", "in (0, 1)"]),
    ('[train]\nmetrics = ["accuracy", "f1"]\n', ["unknown metric 'f1'"]),
    ('[train\nmode = 1\n', ["invalid TOML", "line 1"]),
    ('data = 3\n', ["[data] must be a table"]),
]


@pytest.mark.parametrize("text,fragments", BAD, ids=[b[1][-1][:30] for b in BAD])
def test_bad_config_names_key_file_line(tmp_path, text, fragments):
    path = tmp_path / "run.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        cfg.load(path, preset=with_preset)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_json_config_and_overrides(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"data": {"name": "iris"}, "train": {"epochs": 7}, "optimizer": {"name": "sgd", "lr": 0.1}}')
    config = cfg.load(path, overrides={"train": {"epochs": 9}}, preset=with_preset)
    assert config["data"]["name"] == "iris" and config["train"]["epochs"] == 9
    assert config["optimizer"] == {"name": "sgd", "lr": 0.1}


def test_bad_json_names_line(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"data": {"name": "iris",}}')
    with pytest.raises(ConfigError, match=r"run.json, line 1, column \d+: invalid JSON"):
        cfg.load(path)


def test_preset_applies_and_user_wins(tmp_path):
    config = cfg.load(None, overrides={"data": {"name": "xor"}}, preset=with_preset)
    assert config["model"]["hidden"] == [4] and config["train"]["mode"] == "batch"
    path = tmp_path / "x.toml"
    path.write_text('[data]\nname = "xor"\n[model]\nhidden = [7]\n[optimizer]\nname = "sgd"\nmomentum = 0.5\n')
    config = cfg.load(path, preset=with_preset)
    assert config["model"]["hidden"] == [7]
    assert config["optimizer"] == {"name": "sgd", "momentum": 0.5}     # preset's adam lr dropped


def test_toml_round_trip():
    config = cfg.load(None, overrides={"optimizer": {"name": "sgd", "lr": 0.5, "nesterov": True}})
    text = cfg.to_toml(config)
    again = cfg.merge(cfg.defaults(), cfg._tomllib().loads(text))
    assert again["optimizer"]["lr"] == 0.5 and again["optimizer"]["nesterov"] is True
    assert again["model"] == config["model"] and again["train"] == config["train"]


EXAMPLES = sorted((__import__("pathlib").Path(__file__).resolve().parents[2] / "examples" / "configs").glob("*.*"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_configs_validate(path):
    config = cfg.load(path, preset=with_preset)
    assert config["output"]["dir"].startswith("runs/")
    assert config["data"]["name"] in cfg.DATASETS
