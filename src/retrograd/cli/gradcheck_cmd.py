"""`retrograd gradcheck`: check a configured model's backprop gradients against finite differences."""
from pathlib import Path

import numpy as np

from . import config as cfgmod
from . import setup
from .dataset import prepare


def functional_loss(model, loss_fn, X, y):
    """f(*params) -> loss, running the Sequential MLP with the given parameter tensors in place of its own."""
    import retrograd as rg
    from .. import nn
    layers = list(model.children())

    def f(*params):
        it = iter(params)
        h = rg.tensor(X)
        for layer in layers:
            if isinstance(layer, nn.Linear):
                W = next(it)
                h = h @ W
                if layer.bias is not None:
                    h = h + next(it)
            else:
                h = layer(h)
        return loss_fn(h, rg.tensor(y))
    return f


def run_gradcheck(config_path=None, overrides=None, examples=4, order=1, out=print):
    import retrograd as rg
    if config_path is not None and Path(config_path).is_dir():         # a run directory
        found = [Path(config_path) / n for n in ("config.toml", "config.json") if (Path(config_path) / n).exists()]
        if not found:
            raise cfgmod.ConfigError(f"{config_path} is a directory without config.toml or config.json")
        config_path = found[0]
    config = cfgmod.load(config_path, overrides, preset=setup.with_preset)
    config["model"]["dtype"] = "float64"                              # finite differences need float64
    prepared = prepare(config)
    loss_name = setup.resolve_loss(config, prepared.task)
    model = setup.build_model(config, prepared.n_inputs, prepared.n_outputs)
    loss_fn = setup.build_loss(config, loss_name)
    X = prepared.X_train[:examples].astype(np.float64)
    y = prepared.y_train[:examples]
    if prepared.target_scaling is not None:           # the targets the model is trained on
        y = prepared.target_scaling.scale(y)
    params = list(model.parameters())
    count = sum(p.data.size for p in params)
    out(f"gradcheck: {config['data']['name']} network "
        f"{'-'.join(str(w) for w in [prepared.n_inputs, *config['model']['hidden'], prepared.n_outputs])} "
        f"{config['model']['activation']}, loss {loss_name}, {len(X)} examples, {count} parameters, order {order}")
    rg.gradcheck(functional_loss(model, loss_fn, X, y), params, order=order)
    out("gradcheck passed: backprop gradients match central finite differences (float64)")
    return 0
