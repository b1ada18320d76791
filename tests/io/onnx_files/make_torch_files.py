"""Writes the ONNX files in this folder with PyTorch's dynamo exporter (torch.onnx.export(dynamo=True)).

That exporter takes 3-18 s a model on the 2-core test machine, too slow for the
suite, so its output is kept here (a few kB each); the tests import them and
compare with onnxruntime. The weights are stored as external data
(``*.onnx.data``), the exporter's default. Re-create with
``python tests/io/onnx_files/make_torch_files.py`` (torch 2.13, onnxscript).
"""
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


class LastStep(torch.nn.Module):
    """A recurrent layer whose last step feeds a Linear head."""

    def __init__(self, cell):
        super().__init__()
        self.rnn = cell
        self.head = torch.nn.Linear(cell.hidden_size * (2 if cell.bidirectional else 1), 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def models():
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 4, 3, groups=2), torch.nn.AvgPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(16, 3))
    cnn[1].running_mean.uniform_(-1, 1)
    cnn[1].running_var.uniform_(0.5, 2)
    return {"dynamo_cnn": (cnn, (3, 1, 12, 12)),
            "dynamo_lstm": (LastStep(torch.nn.LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True)),
                            (3, 6, 3)),
            "dynamo_gru": (LastStep(torch.nn.GRU(3, 5, batch_first=True)), (3, 6, 3))}


def main():
    for name, (model, shape) in models().items():
        model.eval()
        torch.onnx.export(model, (torch.randn(*shape),), str(HERE / f"{name}.onnx"), dynamo=True,
                          input_names=["x"], dynamic_shapes=({0: torch.export.Dim("batch")},),
                          external_data=True)
        print("wrote", HERE / f"{name}.onnx")


if __name__ == "__main__":
    main()
