"""Every layer of rg.nn refuses bad constructor arguments and inputs it cannot compute with, at the call,
naming the layer and the argument: one table of constructor cases, one of inputs."""
import re

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn

# (id, the bad call, exception type, fragment of the message)
CONSTRUCTORS = [
    ("Linear negative in", lambda: nn.Linear(-1, 3), ValueError, "Linear: in_features must be >= 1, got -1"),
    ("Linear zero out", lambda: nn.Linear(2, 0), ValueError, "Linear: out_features must be >= 1, got 0"),
    ("Linear fractional", lambda: nn.Linear(2.5, 3), ValueError, "Linear: in_features must be a whole number"),
    ("Linear string size", lambda: nn.Linear("2", 3), TypeError, "Linear: in_features must be a whole number"),
    ("Linear bool size", lambda: nn.Linear(True, 3), TypeError, "Linear: in_features must be a whole number"),
    ("Linear integer dtype", lambda: nn.Linear(2, 3, dtype=np.int32), TypeError,
     "Linear: parameters must be floating point"),
    ("Linear nonsense dtype", lambda: nn.Linear(2, 3, dtype="fast"), TypeError, "Linear: dtype must be"),
    ("Embedding zero rows", lambda: nn.Embedding(0, 3), ValueError, "Embedding: num_embeddings must be >= 1"),
    ("Embedding negative dim", lambda: nn.Embedding(5, -2), ValueError, "Embedding: embedding_dim must be >= 1"),
    ("Dropout p 1", lambda: nn.Dropout(1.0), ValueError, "Dropout: p must lie in [0, 1)"),
    ("Dropout p string", lambda: nn.Dropout("half"), TypeError, "Dropout: p must be a number"),
    ("Flatten fractional axis", lambda: nn.Flatten(start_axis=1.5), ValueError, "Flatten: start_axis must be a whole"),
    ("Conv2d zero kernel", lambda: nn.Conv2d(1, 2, 0), ValueError, "Conv2d: kernel_size must be >= 1, got 0"),
    ("Conv2d negative kernel entry", lambda: nn.Conv2d(1, 2, (3, -1)), ValueError, "Conv2d: kernel_size must be >= 1"),
    ("Conv2d kernel of three", lambda: nn.Conv2d(1, 2, (3, 3, 3)), ValueError,
     "Conv2d: kernel_size must be an int or a tuple of 2 ints"),
    ("Conv2d zero stride", lambda: nn.Conv2d(1, 2, 3, stride=0), ValueError, "Conv2d: stride must be >= 1"),
    ("Conv1d negative padding", lambda: nn.Conv1d(1, 2, 3, padding=-1), ValueError, "Conv1d: padding must be >= 0"),
    ("Conv1d zero dilation", lambda: nn.Conv1d(1, 2, 3, dilation=0), ValueError, "Conv1d: dilation must be >= 1"),
    ("Conv2d zero channels", lambda: nn.Conv2d(0, 2, 3), ValueError, "Conv2d: in_channels must be >= 1"),
    ("Conv2d zero groups", lambda: nn.Conv2d(2, 2, 3, groups=0), ValueError, "Conv2d: groups must be >= 1"),
    ("Conv2d fractional stride", lambda: nn.Conv2d(1, 2, 3, stride=1.5), ValueError, "Conv2d: stride must be a whole"),
    ("MaxPool2d zero kernel", lambda: nn.MaxPool2d(0), ValueError, "MaxPool2d: kernel_size must be >= 1"),
    ("MaxPool1d zero stride", lambda: nn.MaxPool1d(2, stride=0), ValueError, "MaxPool1d: stride must be >= 1"),
    ("AvgPool2d negative padding", lambda: nn.AvgPool2d(2, padding=-1), ValueError, "AvgPool2d: padding must be >= 0"),
    ("AvgPool1d padding over half", lambda: nn.AvgPool1d(2, padding=2), ValueError,
     "AvgPool1d: padding (2,) must be at most half the kernel"),
    ("LSTM negative hidden", lambda: nn.LSTM(2, -1), ValueError, "LSTM: hidden_size must be >= 1"),
    ("GRU zero input", lambda: nn.GRU(0, 3), ValueError, "GRU: input_size must be >= 1"),
    ("RNN zero layers", lambda: nn.RNN(2, 3, num_layers=0), ValueError, "RNN: num_layers must be >= 1"),
    ("LSTM dropout 1", lambda: nn.LSTM(2, 3, num_layers=2, dropout=1.0), ValueError, "LSTM: dropout must be < 1"),
    ("GRU string hidden", lambda: nn.GRU(2, "8"), TypeError, "GRU: hidden_size must be a whole number"),
    ("BatchNorm1d zero features", lambda: nn.BatchNorm1d(0), ValueError, "BatchNorm1d: num_features must be >= 1"),
    ("BatchNorm1d zero eps", lambda: nn.BatchNorm1d(3, eps=0), ValueError, "BatchNorm1d: eps must be > 0"),
    ("BatchNorm2d momentum 2", lambda: nn.BatchNorm2d(3, momentum=2.0), ValueError,
     "BatchNorm2d: momentum must lie in [0, 1]"),
    ("LayerNorm negative size", lambda: nn.LayerNorm(-1), ValueError, "LayerNorm: normalized_shape must be >= 1"),
    ("LayerNorm empty shape", lambda: nn.LayerNorm(()), ValueError, "LayerNorm: normalized_shape must name"),
    ("LayerNorm negative eps", lambda: nn.LayerNorm(4, eps=-1e-5), ValueError, "LayerNorm: eps must be > 0"),
    ("Sequential of a list", lambda: nn.Sequential([nn.Linear(2, 3), nn.Tanh()]), TypeError,
     "pass the modules as separate arguments: Sequential(*layers)"),
    ("functional conv2d zero stride",
     lambda: nn.functional.conv2d(rg.tensor(np.ones((1, 1, 4, 4))), rg.tensor(np.ones((1, 1, 2, 2))), stride=0),
     ValueError, "stride must be >= 1"),
]

WORDS = np.array([["a", "b"], ["c", "d"]])
INPUTS = [
    ("Linear strings", lambda: nn.Linear(2, 3)(WORDS), TypeError,
     "Linear(2, 3): input must hold real numbers, got dtype <U1 (strings)"),
    ("Linear complex array", lambda: nn.Linear(2, 3)(np.ones((1, 2)) + 1j), TypeError, "(complex numbers)"),
    ("Linear objects", lambda: nn.Linear(2, 3)(np.ones((1, 2)).astype(object)), TypeError, "(Python objects)"),
    ("Linear list", lambda: nn.Linear(2, 3)([[1.0, 2.0]]), TypeError,
     "Linear(2, 3): input must be a Tensor or an array"),
    ("Conv1d complex", lambda: nn.Conv1d(1, 1, 2)(np.ones((1, 1, 4)) * 1j), TypeError, "Conv1d: input must hold real"),
    ("MaxPool1d strings", lambda: nn.MaxPool1d(2)(np.full((1, 1, 4), "x")), TypeError,
     "MaxPool1d: input must hold real"),
    ("LSTM complex", lambda: nn.LSTM(2, 3)(np.ones((4, 1, 2)) + 1j), TypeError, "LSTM: input must hold real"),
    ("BatchNorm1d complex", lambda: nn.BatchNorm1d(2)(np.ones((3, 2)) + 1j), TypeError,
     "BatchNorm1d: input must hold real"),
    ("LayerNorm strings", lambda: nn.LayerNorm(2)(WORDS), TypeError, "LayerNorm(2,): input must hold real"),
]


@pytest.mark.parametrize("call, error, fragment", [c[1:] for c in CONSTRUCTORS], ids=[c[0] for c in CONSTRUCTORS])
def test_bad_constructor_arguments_are_refused_at_the_call(call, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        call()


@pytest.mark.parametrize("call, error, fragment", [c[1:] for c in INPUTS], ids=[c[0] for c in INPUTS])
def test_inputs_that_are_not_real_numbers_are_refused(call, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        call()


def test_sizes_given_as_numpy_integers_or_integral_floats_still_work():
    assert nn.Linear(np.int64(3), 2.0).weight.shape == (3, 2)
    assert nn.Conv2d(1, 2, (np.int32(3), 3), stride=np.int64(2)).stride == (2, 2)
    assert nn.LayerNorm([4]).normalized_shape == (4,)
