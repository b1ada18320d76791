"""Scoring a model on data and drawing a run's figures; shared by train, evaluate and plot."""
import numpy as np

from .setup import predict_outputs


def labels_from_outputs(outputs, task, threshold):
    """Predicted class labels (classification / binary) or values (regression)."""
    if task == "classification":
        return np.argmax(outputs, axis=1)
    if task == "binary":
        if outputs.shape[1] > 1 and threshold == 0.5 and np.allclose(outputs.sum(axis=1), 1, atol=1e-3):
            return np.argmax(outputs, axis=1)
        return (outputs > threshold).astype(np.int64)
    return outputs


def score(model, loss_fn, X, y, task, threshold):
    """{'loss', 'accuracy' or 'rmse', 'n'} on (X, y)."""
    import retrograd as rg
    out = predict_outputs(model, X)
    with rg.no_grad():
        loss = float(loss_fn(rg.tensor(out), rg.tensor(y)).data)
    result = {"n": int(len(X)), "loss": loss}
    if task == "regression":
        result["rmse"] = float(np.sqrt(np.mean((out - np.asarray(y).reshape(out.shape)) ** 2)))
    else:
        from ..training.metrics import accuracy
        result["accuracy"] = float(accuracy(out, y, threshold=threshold))
    return result, out


def draw_run_plots(directory, history, info, model=None, X=None, y=None, outputs=None, snapshots=None,
                   boundary_name="boundary.png", gif=False):
    """Every figure that applies to this run; returns the paths written."""
    from .. import plot
    written = []
    if history and history.get("loss"):
        written.append(plot.plot_history(history, directory / "history.png", title=info.get("dataset")))
    if history and any(v is not None for v in history.get("lr", [])):
        written.append(plot.plot_lr(history, directory / "lr.png"))
    task = info["task"]
    if outputs is not None and y is not None:
        if task == "classification":
            written.append(plot.plot_confusion_matrix(y, np.argmax(outputs, axis=1), directory / "confusion.png",
                                                      class_names=info.get("class_names")
                                                      or [str(c) for c in range(info["n_outputs"])]))
        elif task == "regression":
            x = X[:, 0] if X is not None and X.shape[1] == 1 else None
            written.append(plot.plot_regression_fit(x, y, outputs, directory / "regression.png"))
            written.append(plot.plot_error_histogram(outputs - np.asarray(y).reshape(outputs.shape),
                                                     directory / "errors.png"))
    if model is not None and info.get("image_shape"):
        first = next(iter(model.parameters()))
        written.append(plot.plot_first_layer_weights(first.data, directory / "weights.png", info["image_shape"]))
    if snapshots:
        grid, frames, X2, y2 = snapshots
        gif = directory / "boundary.gif" if gif else None
        written.append(plot.plot_decision_boundary(frames, X2, y2, directory / boundary_name, grid=grid,
                                                   gif_path=gif))
        if gif is not None:
            written.append(gif)
    return written
