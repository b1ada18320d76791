"""Autoencoder helper: tied weights share one matrix, the sparsity penalty is Ng's KL, training reconstructs."""
import numpy as np
import pytest

import retrograd as rg
from retrograd.training.autoencoder import Autoencoder, AutoencoderLoss, kl_sparsity, train_autoencoder


def test_tied_autoencoder_uses_encoder_weight_transposed():
    model = Autoencoder(5, 3, tied=True, dtype=np.float64, generator=np.random.default_rng(0))
    names = [n for n, _ in model.named_parameters()]
    assert len(names) == 3 and any("decoder_bias" in n for n in names)
    x = np.random.default_rng(1).random((4, 5))
    W, b = model.encoder.weight.data, model.encoder.bias.data
    code = 1 / (1 + np.exp(-(x @ W + b)))
    expected = 1 / (1 + np.exp(-(code @ W.T + model.decoder_bias.data)))
    np.testing.assert_allclose(model(rg.tensor(x)).data, expected, rtol=1e-12)
    assert len(list(Autoencoder(5, 3, tied=False).parameters())) == 4


def test_kl_sparsity_matches_formula():
    code = np.random.default_rng(0).uniform(0.01, 0.99, size=(6, 4))
    rho = 0.1
    rho_hat = code.mean(axis=0)
    expected = np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    assert float(kl_sparsity(rg.tensor(code), rho).data) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("tied", [False, True])
def test_penalised_loss_gradients_match_finite_differences(tied):
    """Backprop through tied weights (two uses of W) and the KL + L1 penalties agrees with differences."""
    model = Autoencoder(4, 3, tied=tied, dtype=np.float64, generator=np.random.default_rng(2))
    x = np.random.default_rng(3).random((5, 4))
    objective = AutoencoderLoss(model, "mse", sparsity=0.2, sparsity_weight=0.7, activity_l1=0.3)

    def loss_value():
        with rg.no_grad():
            return float(objective(model(rg.tensor(x)), rg.tensor(x)).data)

    model.zero_grad()
    objective(model(rg.tensor(x)), rg.tensor(x)).backward()
    for p in model.parameters():
        flat, grad = p.data.reshape(-1), p.grad.data.reshape(-1)
        for k in range(flat.size):
            keep = flat[k]
            flat[k] = keep + 1e-6
            up = loss_value()
            flat[k] = keep - 1e-6
            down = loss_value()
            flat[k] = keep
            assert grad[k] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-8)


def test_training_reconstructs_and_sparsity_hits_target():
    rng = np.random.default_rng(0)
    basis = rng.random((4, 20))
    X = (rng.random((300, 4)) @ basis / 4).astype(np.float32)          # 20-D data on a 4-D subspace
    baseline = float(((X - X.mean(0)) ** 2).mean())
    model, history = train_autoencoder(X, 6, tied=True, epochs=60, lr=1e-2, seed=0)
    with rg.no_grad():
        error = float(((model(rg.tensor(X)).data - X) ** 2).mean())
    assert history["loss"][-1] < history["loss"][0] and error < 0.2 * baseline

    model, _ = train_autoencoder(X, 12, sparsity=0.05, sparsity_weight=3.0, epochs=60, lr=1e-2, seed=0)
    with rg.no_grad():
        mean_activation = model.encode(rg.tensor(X)).data.mean()
    assert abs(mean_activation - 0.05) < 0.02


@pytest.mark.parametrize("kw,fragment", [({"sparsity": 1.5}, "must be in \\(0, 1\\)"),
                                         ({"sparsity": 0.1, "activation": "relu"}, "needs hidden activations in"),
                                         ({}, "shape \\(n_samples, n_features\\)")])
def test_bad_arguments(kw, fragment):
    X = np.zeros(5) if not kw else np.zeros((5, 3))
    with pytest.raises(ValueError, match=fragment):
        train_autoencoder(X, 2, **kw)
