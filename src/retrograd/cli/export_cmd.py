"""`retrograd export`: a trained run directory as a deployable ONNX file (raw features in, probabilities out).

Regression runs trained on standardised targets get the inverse scaling as the graph's last
nodes, so the output is in the data's units, as `retrograd predict` prints it. `--no-scaling`
leaves both the input scaler and that out.
"""
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .config import ConfigError
from .errors import MissingPackageError
from .rundir import Run

FORMATS = ("onnx",)


def output_activation(info: dict, config: dict) -> Optional[str]:
    """What turns the network's outputs into probabilities, as `retrograd predict` does, or None.

    Classification: softmax over the logits (none when the network already ends
    in a softmax). Binary: sigmoid when the outputs are logits (threshold 0).
    Regression: none.
    """
    task, last = info["task"], config["model"].get("output", "auto")
    if task == "classification":
        return None if last in ("softmax", "log_softmax") else "softmax"
    if task == "binary":
        return "sigmoid" if info.get("threshold") == 0.0 else None
    return None


def run_export(run_dir: str, fmt: str = "onnx", output: Optional[str] = None, opset: Optional[int] = None,
               scaling: bool = True, probabilities: bool = True, out: Callable[[str], None] = print) -> int:
    """Write the run's model as ONNX; returns the exit status."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: supported formats are {', '.join(FORMATS)}")
    from ..io import onnx as rg_onnx
    from ..io.onnx.errors import require_onnx
    try:
        require_onnx()
    except ImportError as exc:
        raise MissingPackageError(f"retrograd export: {exc}") from None
    run = Run(run_dir)
    model = run.model()
    info, config = run.info, run.config
    scaler = run.scaler() if scaling else None
    act = output_activation(info, config) if probabilities else None
    target = run.target_scaling() if scaling and info["task"] == "regression" else None
    affine = (target.std, target.mean) if target is not None else None
    path = Path(output) if output else run.dir / "model.onnx"
    example = np.zeros((1, int(info["n_inputs"])), dtype=np.float32)
    out_name = "probabilities" if act or config["model"].get("output") in ("softmax", "sigmoid") else "output"
    meta = {"retrograd.task": info["task"], "retrograd.n_inputs": str(info["n_inputs"]),
            "retrograd.n_outputs": str(info["n_outputs"]), "retrograd.run": str(run.dir)}
    if info.get("feature_names"):
        meta["retrograd.feature_names"] = ",".join(str(n) for n in info["feature_names"])
    if info.get("classes"):
        meta["retrograd.classes"] = ",".join(str(c) for c in info["classes"])
    rg_onnx.export(model, path, example, opset=opset, output=act, scaler=scaler, input_name="features",
                   output_names=[out_name], output_affine=affine, metadata=meta)
    pre = f"{type(scaler).__name__} inside the graph (feed raw features)" if scaler is not None else \
        "none (feed the features the network was trained on)"
    post = f" after {act}" if act else " in the targets' units" if affine is not None else ""
    out(f"retrograd export: wrote {path} (ONNX, input 'features' ({info['n_inputs']} per row, batch axis "
        f"symbolic), output '{out_name}'{post}; scaling: {pre})")
    return 0
