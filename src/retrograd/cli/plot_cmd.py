"""`retrograd plot`: redraw a run directory's figures from history.csv, the model and its data."""
import numpy as np

from .evaluate import load_eval_data
from .report import draw_run_plots
from .rundir import Run, read_history
from .setup import predict_outputs


def run_plot(run_dir, out=print):
    """Draw every figure that applies to the run into its directory; prints what was written."""
    run = Run(run_dir)
    history = read_history(run.dir / "history.csv")
    model = run.model()
    X, y, _ = load_eval_data(run)
    outputs = predict_outputs(model, X)
    scaling = run.target_scaling()
    if run.info["task"] == "regression" and scaling is not None:
        outputs = scaling.unscale(outputs)
    frames = None
    if run.info["n_inputs"] == 2 and run.info["task"] == "binary" and run.info["n_outputs"] == 1:
        from .. import plot
        grid = plot.decision_grid(X, resolution=60)
        z = predict_outputs(model, grid[2].astype(X.dtype))[:, 0]
        if run.info["threshold"] == 0.0:
            z = 1 / (1 + np.exp(-z))
        frames = (grid, [(f"epoch {run.info.get('epochs', 0)} (final)", z)], X, y)
    # boundary.png holds the snapshots taken during training; the final one goes beside it
    written = draw_run_plots(run.dir, history, run.info, model, X, y, outputs, frames,
                             boundary_name="boundary_final.png", note=out)
    out(f"wrote {len(written)} figures in {run.dir}/: " + ", ".join(p.name for p in written))
    return 0
