"""Networks: modules, layers, activations, losses and initialisers.

``Module`` finds parameters by walking attributes; layers keep PyTorch's
names and shapes (Conv, RNN/LSTM/GRU) except ``Linear``, whose weight is
(in, out) so that ``y = x @ W + b``.
"""
from . import functional, init  # noqa: F401
from .activations import (ELU, GELU, SELU, Elliott, Gaussian, Hardsigmoid, HardSigmoid,  # noqa: F401
                          Hardtanh, HardTanh, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax,
                          Softplus, Softsign, Tanh, activation_names, get_activation)
from .cascade import CascadeNetwork  # noqa: F401
from .containers import Identity, ModuleDict, ModuleList, Residual, Sequential  # noqa: F401
from .conv import AvgPool1d, AvgPool2d, Conv1d, Conv2d, MaxPool1d, MaxPool2d  # noqa: F401
from .layers import Dropout, Embedding, Flatten, Linear  # noqa: F401
from .loss_modules import (AtanhError, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HalfSSE,  # noqa: F401
                           HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss, get_loss, loss_names)
from .module import Module, Parameter  # noqa: F401
from .recurrent import GRU, LSTM, RNN  # noqa: F401
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm  # noqa: F401
