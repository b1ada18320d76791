"""The fit loop, callbacks, stopping rules, checkpoints, progress and metrics."""
from .autoencoder import Autoencoder, train_autoencoder
from .callbacks import Callback, CallbackList
from .cascade import CascadeCorrelation
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .csv_logger import CSVLogger
from .fit import fit
from .history import History
from .metrics import METRICS, get_metric
from .parameter_norms import ParameterNorms
from .progress import ProgressBar
from .schedule import LRScheduler
from .stopping import (AllCorrect, BitFail, EarlyStopping, ErrorGoal, MaxEpochs, MinGradNorm,
                       StoppingRule, TimeLimit, get_stopping_rules)
from .trainer import FullBatchWarning, Trainer

__all__ = ["fit", "Trainer", "History", "Callback", "CallbackList", "Checkpoint", "CSVLogger",
           "ProgressBar", "LRScheduler", "StoppingRule", "MaxEpochs", "ErrorGoal", "MinGradNorm",
           "AllCorrect", "BitFail", "TimeLimit", "EarlyStopping", "FullBatchWarning",
           "get_stopping_rules", "get_metric", "METRICS", "save_checkpoint", "load_checkpoint",
           "Autoencoder", "train_autoencoder", "ParameterNorms", "CascadeCorrelation"]
