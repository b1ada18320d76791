"""Train an autoencoder on the 8x8 digits and plot reconstructions and the learned features.

    python examples/autoencoder_digits.py [--hidden 32] [--tied] [--sparsity 0.05] [--out autoencoder_digits]

Writes reconstructions.png (test digits on top, their reconstructions below),
features.png (each hidden unit's incoming weights as an 8x8 image) and history.png.
Needs scikit-learn (for the digits) and matplotlib.
"""
import argparse
from pathlib import Path

import numpy as np

import retrograd as rg
from retrograd.plot import plot_first_layer_weights, plot_history, plot_reconstructions
from retrograd.training.autoencoder import train_autoencoder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--tied", action="store_true", help="decoder weights = encoder weights transposed")
    parser.add_argument("--sparsity", type=float, default=None, help="target mean activation for the KL penalty")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--out", default="autoencoder_digits")
    args = parser.parse_args(argv)

    split = rg.data.load_digits()
    X_train = split.X_train / 16.0                 # pixels 0..16 -> [0, 1] for the sigmoid output
    X_test = split.X_test / 16.0
    model, history = train_autoencoder(X_train, args.hidden, tied=args.tied, sparsity=args.sparsity,
                                       epochs=args.epochs, lr=1e-2, batch_size=32,
                                       validation_data=X_test, seed=0)
    with rg.no_grad():
        reconstructed = model(rg.tensor(X_test)).data
    error = float(((reconstructed - X_test) ** 2).mean())
    baseline = float(((X_test - X_train.mean(axis=0)) ** 2).mean())
    out = Path(args.out)
    plot_reconstructions(X_test, reconstructed, out / "reconstructions.png", (8, 8))
    plot_first_layer_weights(model.encoder.weight.data, out / "features.png", (8, 8))
    plot_history(history, out / "history.png")
    print(f"autoencoder 64-{args.hidden}-64 (tied={args.tied}, sparsity={args.sparsity}), {args.epochs} epochs: "
          f"test reconstruction MSE {error:.4f} (predicting the mean image: {baseline:.4f})")
    print(f"figures in {out}/: reconstructions.png, features.png, history.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
