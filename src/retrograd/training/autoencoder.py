"""Autoencoders: build one (optionally with tied weights) and train it with an optional sparsity penalty.

An autoencoder learns to reproduce its input through a narrower (or sparse) hidden layer,
so the hidden units must find a code for the data (Rumelhart, Hinton & Williams 1986 used
8-3-8 encoders). Tied weights use the encoder's W transposed as the decoder (half the
weights). The sparse penalty is Ng's KL divergence between a target mean activation rho
and each hidden unit's mean activation over the batch, and/or an L1 penalty on activations.
"""
import numpy as np

from ..autograd import functions as F
from ..nn import Linear, Module, Parameter, get_activation, get_loss

_UNIT_INTERVAL = ("sigmoid", "hard_sigmoid", "hardsigmoid")


class Autoencoder(Module):
    """``x -> code = act(x @ W + b) -> out(code @ W_dec + c)``; ``W_dec = W.T`` when ``tied``.

    ``encode(x)`` and ``decode(code)`` are available separately; ``forward`` also keeps the
    last code in ``last_code`` so that a sparsity penalty can read it.
    """

    def __init__(self, n_inputs, n_hidden, activation="sigmoid", output="sigmoid", tied=False,
                 dtype=None, generator=None, init="xavier_uniform"):
        super().__init__()
        self.tied = bool(tied)
        self.activation_name = activation
        self.encoder = Linear(n_inputs, n_hidden, dtype=dtype, generator=generator, init=init)
        self.activation = get_activation(activation)
        if self.tied:
            self.decoder_bias = Parameter(np.zeros(n_inputs, dtype=self.encoder.weight.data.dtype))
        else:
            self.decoder = Linear(n_hidden, n_inputs, dtype=dtype, generator=generator, init=init)
        self.output = get_activation(output)
        object.__setattr__(self, "last_code", None)   # not a parameter or buffer

    def encode(self, x):
        return self.activation(self.encoder(x))

    def decode(self, code):
        if self.tied:
            pre = F.matmul(code, F.transpose(self.encoder.weight)) + self.decoder_bias
        else:
            pre = self.decoder(code)
        return self.output(pre)

    def forward(self, x):
        code = self.encode(x)
        object.__setattr__(self, "last_code", code)
        return self.decode(code)


def kl_sparsity(code, rho, eps=1e-7):
    """Σ_j KL(rho || rho_hat_j), rho_hat_j = mean activation of hidden unit j over the batch."""
    rho_hat = F.clip(F.mean(code, axis=0), eps, 1.0 - eps)
    return F.sum(rho * F.log(rho / rho_hat) + (1.0 - rho) * F.log((1.0 - rho) / (1.0 - rho_hat)))


class AutoencoderLoss:
    """Reconstruction loss plus ``beta * kl_sparsity(code, rho)`` plus ``l1 * mean(sum_j |code_j|)``.

    Reads the code of the model's latest forward pass (the same batch the trainer just ran).
    """

    def __init__(self, model, reconstruction="mse", sparsity=None, sparsity_weight=0.0, activity_l1=0.0):
        self.model = model
        self.reconstruction = get_loss(reconstruction)
        self.name = f"{reconstruction}+sparsity" if (sparsity or activity_l1) else reconstruction
        self.sparsity = sparsity
        self.sparsity_weight = float(sparsity_weight)
        self.activity_l1 = float(activity_l1)

    def __call__(self, outputs, targets):
        loss = self.reconstruction(outputs, targets)
        code = self.model.last_code
        if code is None or (not self.sparsity and not self.activity_l1):
            return loss
        if self.sparsity and self.sparsity_weight:
            loss = loss + self.sparsity_weight * kl_sparsity(code, self.sparsity)
        if self.activity_l1:
            loss = loss + self.activity_l1 * F.mean(F.sum(F.abs(code), axis=1))
        return loss


def train_autoencoder(X, hidden, *, activation="sigmoid", output="sigmoid", tied=False, sparsity=None,
                      sparsity_weight=3.0, activity_l1=0.0, loss="mse", optimizer="adam", lr=1e-2,
                      epochs=50, batch_size=32, mode="minibatch", validation_data=None, seed=0,
                      quiet=True, init="xavier_uniform", **fit_kw):
    """Build an Autoencoder for X (n, d) and train it to reproduce X; returns ``(model, history)``.

    - ``tied``: decoder weights are the encoder's transposed.
    - ``sparsity``: target mean activation rho (e.g. 0.05) for the KL penalty, weighted by
      ``sparsity_weight``; needs an activation with values in (0, 1) such as sigmoid.
    - ``activity_l1``: weight of an L1 penalty on the code (any activation).
    - ``output``: the decoder's activation; sigmoid suits inputs scaled to [0, 1], identity
      suits standardised inputs.
    - Other keyword arguments go to ``rg.fit`` (callbacks, stop, ...).
    """
    from .. import optim
    from .fit import fit
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"train_autoencoder: X must have shape (n_samples, n_features), got {X.shape}")
    if sparsity is not None:
        if not 0.0 < sparsity < 1.0:
            raise ValueError(f"train_autoencoder: sparsity (target mean activation) must be in (0, 1), got {sparsity}")
        if str(activation).lower() not in _UNIT_INTERVAL:
            raise ValueError(f"train_autoencoder: the KL sparsity penalty needs hidden activations in (0, 1); "
                             f"activation={activation!r} is not. Use activation='sigmoid' or activity_l1=")
    dtype = X.dtype if X.dtype.kind == "f" else None
    model = Autoencoder(X.shape[1], hidden, activation=activation, output=output, tied=tied, dtype=dtype,
                        generator=np.random.default_rng(seed), init=init)
    objective = AutoencoderLoss(model, loss, sparsity=sparsity, sparsity_weight=sparsity_weight,
                                activity_l1=activity_l1)
    opt = optim.get(optimizer, model.parameters(), lr=lr) if isinstance(optimizer, str) else optimizer
    if validation_data is not None and not isinstance(validation_data, tuple):
        validation_data = (validation_data, validation_data)
    history = fit(model, objective, opt, (X, X), epochs=epochs, mode=mode, batch_size=batch_size,
                  validation_data=validation_data, seed=seed, quiet=quiet, **fit_kw)
    return model, history


__all__ = ["Autoencoder", "AutoencoderLoss", "kl_sparsity", "train_autoencoder"]
