"""Two spirals trained with rg.fit, with figures drawn from Python: curves, boundary snapshots, a GIF.

    python examples/two_spirals_plots.py [--optimizer adam] [--epochs 1500] [--out two_spirals_plots]

A callback evaluates the network on a grid every few epochs; rg.plot turns those snapshots into
a grid of panels (boundary.png) and an animation (boundary.gif). Needs matplotlib (and Pillow,
which matplotlib installs, for the GIF).
"""
import argparse
from pathlib import Path

import numpy as np

import retrograd as rg
from retrograd import plot
from retrograd.training import Callback


class BoundaryRecorder(Callback):
    """Record the network's output probability on ``grid`` at the given epochs (1-based)."""

    def __init__(self, grid_points, epochs):
        self.points = rg.tensor(grid_points.astype(np.float32))
        self.epochs = set(epochs)
        self.snapshots = []

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.epochs or self.trainer.stop_training:
            with rg.no_grad():
                logits = self.trainer.model(self.points).data[:, 0]
            self.snapshots.append((f"epoch {epoch + 1}", 1 / (1 + np.exp(-logits))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=1500)
    parser.add_argument("--out", default="two_spirals_plots")
    args = parser.parse_args(argv)

    X, y = rg.data.two_spirals()
    X, y = X.astype(np.float32), y.astype(np.float32)
    rng = np.random.default_rng(0)
    model = rg.nn.Sequential(rg.nn.Linear(2, 64, generator=rng), rg.nn.Tanh(),
                             rg.nn.Linear(64, 64, generator=rng), rg.nn.Tanh(), rg.nn.Linear(64, 1, generator=rng))
    optimizer = rg.optim.get(args.optimizer, model.parameters(), lr=args.lr)
    grid = plot.decision_grid(X, resolution=80)
    recorder = BoundaryRecorder(grid[2], np.unique(np.geomspace(1, args.epochs, 8).astype(int)))

    def accuracy(out, t):
        return float(np.mean((out > 0) == (t > 0.5)))

    history = rg.fit(model, "bce_with_logits", optimizer, (X, y), epochs=args.epochs, mode="batch",
                     metrics=[accuracy], callbacks=[recorder], stop={"all_correct": {"threshold": 0.0}},
                     quiet=True)
    out = Path(args.out)
    plot.plot_history(history, out / "history.png", title="two spirals")
    plot.plot_decision_boundary(recorder.snapshots, X, y, out / "boundary.png", grid=grid,
                                gif_path=out / "boundary.gif")
    print(f"two spirals, 2-64-64-1 tanh, {args.optimizer} lr {args.lr}: {history.epochs} epochs, "
          f"training accuracy {history['accuracy'][-1]:.3f} ({history.stop_reason})")
    print(f"figures in {out}/: history.png, boundary.png, boundary.gif")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
