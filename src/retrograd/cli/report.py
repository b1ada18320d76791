"""Scoring a model on data and drawing a run's figures; shared by train, evaluate and plot."""
import numpy as np

from .setup import predict_outputs

# A confusion matrix with more classes than this is not drawn (a note says so): at 50 classes each
# cell is already 0.24 inches wide in the 12-inch figure that plot_confusion_matrix caps it to.
MAX_CONFUSION_CLASSES = 50


def labels_from_outputs(outputs, task, threshold):
    """Predicted class indices (classification / binary) or values (regression)."""
    if task == "classification":
        return np.argmax(outputs, axis=1)
    if task == "binary":
        if outputs.shape[1] > 1 and threshold == 0.5 and np.allclose(outputs.sum(axis=1), 1, atol=1e-3):
            return np.argmax(outputs, axis=1)
        return (outputs > threshold).astype(np.int64)
    return outputs


def score(model, loss_fn, X, y, task, threshold, target_scaling=None, target_mean=None):
    """({'n', 'loss', 'accuracy'} or {'n', 'loss', 'rmse', 'baseline_rmse'}, outputs) on (X, y).

    ``y`` is in model units, regression targets in the data's own units. The loss is the one the
    model was trained on (on standardised targets for regression, like history.csv); rmse and the
    returned outputs are in the data's units. ``baseline_rmse`` is the rmse of always predicting
    ``target_mean`` (the training targets' mean).
    """
    import retrograd as rg
    out = predict_outputs(model, X)
    target = y
    if task == "regression" and target_scaling is not None:
        target = target_scaling.scale(y).astype(out.dtype)
    with rg.no_grad():
        loss = float(loss_fn(rg.tensor(out), rg.tensor(target)).data)
    result = {"n": int(len(X)), "loss": loss}
    if task == "regression":
        if target_scaling is not None:
            out = target_scaling.unscale(out)
        y = np.asarray(y, dtype=np.float64).reshape(out.shape)
        result["rmse"] = float(np.sqrt(np.mean((out - y) ** 2)))
        if target_mean is not None:
            result["baseline_rmse"] = float(np.sqrt(np.mean((np.asarray(target_mean) - y) ** 2)))
    else:
        from ..training.metrics import accuracy
        result["accuracy"] = float(accuracy(out, y, threshold=threshold))
    return result, out


def describe_score(result: dict) -> str:
    """'loss 0.1234, accuracy 0.9667' or 'loss 0.2, rmse 54.1 (predicting the mean: 77.0)'."""
    if "accuracy" in result:
        return f"loss {result['loss']:.4g}, accuracy {result['accuracy']:.4f}"
    text = f"loss {result['loss']:.4g}, rmse {result['rmse']:.4g}"
    if "baseline_rmse" in result:
        text += f" (predicting the training mean: rmse {result['baseline_rmse']:.4g})"
    return text


def worse_than_mean(result: dict) -> bool:
    """True for a regression score whose rmse is no better than always predicting the training mean."""
    return "baseline_rmse" in result and result["rmse"] >= result["baseline_rmse"]


def class_names(info: dict) -> list:
    """Names for the model's outputs: the dataset's names, the run's classes, or 0..K-1."""
    return (info.get("class_names") or [str(c) for c in info.get("classes") or []]
            or [str(c) for c in range(info["n_outputs"])])


def draw_run_plots(directory, history, info, model=None, X=None, y=None, outputs=None, snapshots=None,
                   boundary_name="boundary.png", gif=False, note=print):
    """Every figure that applies to this run; returns the paths written. ``outputs`` are in data units.

    Figures that cannot be read at any size are skipped with a line sent to ``note``.
    """
    from .. import plot
    written = []
    if history and history.get("loss"):
        written.append(plot.plot_history(history, directory / "history.png", title=info.get("dataset")))
    if history and any(v is not None for v in history.get("lr", [])):
        written.append(plot.plot_lr(history, directory / "lr.png"))
    task = info["task"]
    if outputs is not None and y is not None:
        if task == "classification":
            if info["n_outputs"] > MAX_CONFUSION_CLASSES:
                note(f"(no confusion.png: {info['n_outputs']} classes are more than the "
                     f"{MAX_CONFUSION_CLASSES} a confusion matrix can show readably)")
            else:
                written.append(plot.plot_confusion_matrix(y, np.argmax(outputs, axis=1), directory / "confusion.png",
                                                          class_names=class_names(info)))
        elif task == "regression":
            x = X[:, 0] if X is not None and X.shape[1] == 1 else None
            y_data = np.asarray(y, dtype=np.float64).reshape(outputs.shape)
            written.append(plot.plot_regression_fit(x, y_data, outputs, directory / "regression.png"))
            written.append(plot.plot_error_histogram(outputs - y_data, directory / "errors.png"))
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
