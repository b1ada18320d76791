"""The functional forms of retrograd.nn: activations, losses, convolution, pooling, dropout, linear."""
from ..autograd import functions as _F
from .activations import (elu, gaussian, gelu, hard_sigmoid, hard_tanh, identity, leaky_relu,  # noqa: F401
                          log_softmax, relu, selu, sigmoid, silu, softmax, softplus, softsign, tanh)
from .conv import (avg_pool1d, avg_pool2d, conv1d, conv2d, max_pool1d, max_pool2d,  # noqa: F401
                   unfold)
from .losses import (atanh_error, binary_cross_entropy, binary_cross_entropy_with_logits,  # noqa: F401
                     cross_entropy, half_sse, huber_loss, kl_div, l1_loss, mse_loss, nll_loss)

elliott = softsign
mse = mse_loss
l1 = l1_loss
huber = huber_loss
nll = nll_loss
bce = binary_cross_entropy
bce_with_logits = binary_cross_entropy_with_logits


def linear(x, weight, bias=None):
    """``x @ weight + bias`` with weight (in, out) — retrograd's dense layout."""
    y = _F.matmul(x, weight)
    return y + bias if bias is not None else y


def dropout(x, p=0.5, training=True, generator=None):
    """Inverted dropout: zero with probability p, scale the rest by 1/(1−p); identity when not training."""
    from .layers import Dropout
    d = Dropout(p, generator=generator)
    d.training = training
    return d(x)
