"""Progress display: a tqdm bar on a terminal, plain lines otherwise (logs, pipes, CI)."""
import math
import os
import sys
import time

from .callbacks import Callback


def _format_time(seconds):
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def describe(logs):
    """'loss 0.1234 val_loss 0.2345 accuracy 0.9667 lr 0.05' from an epoch's logs."""
    parts = []
    for key, value in logs.items():
        if key in ("epoch", "time") or value is None:
            continue
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return " ".join(parts)


class ProgressBar(Callback):
    """Shows epoch, loss, validation loss, metrics, learning rate and ETA.

    ``style='auto'`` uses tqdm when it is installed and ``stream`` is a terminal, else prints
    plain lines; ``'plain'`` and ``'tqdm'`` force a style. Plain lines come every ``every``
    epochs, plus the last one; ``every='auto'`` (the default) spaces them so that a run prints
    at most about ``MAX_PLAIN_LINES`` (50) whatever its length, which keeps logs of long runs
    readable. A terminal that reports no width (a pseudo-terminal whose size was never set
    reports 0 columns, and tqdm would then draw nothing) gets a bar of ``FALLBACK_COLUMNS``.
    Writes to ``stream`` (stderr by default).
    """

    MAX_PLAIN_LINES = 50
    FALLBACK_COLUMNS = 80

    def __init__(self, stream=None, style="auto", every="auto"):
        if style not in ("auto", "plain", "tqdm"):
            raise ValueError(f"ProgressBar(style={style!r}): use 'auto', 'plain' or 'tqdm'")
        if every != "auto" and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(f"ProgressBar(every={every!r}): use 'auto' or a positive number of epochs")
        self.stream = stream
        self.style = style
        self.every = every
        self._bar = None

    def _use_tqdm(self, stream):
        if self.style == "plain":
            return False
        try:
            import tqdm  # noqa: F401 - optional
        except ImportError:
            if self.style == "tqdm":
                raise ImportError("ProgressBar(style='tqdm') needs tqdm: pip install tqdm") from None
            return False
        return self.style == "tqdm" or (hasattr(stream, "isatty") and stream.isatty())

    @staticmethod
    def _columns(stream):
        """The terminal's width, or None when it reports none (0 columns) or cannot be asked."""
        try:
            columns = os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            return None
        return columns if columns > 0 else None

    def on_train_begin(self, logs=None):
        stream = self.stream or sys.stderr
        self._stream = stream
        self._t0 = time.perf_counter()
        self._first = self.trainer.epoch
        self._bar = None
        remaining = max(self.trainer.epochs - self._first, 1)
        self._every = (max(1, math.ceil(remaining / self.MAX_PLAIN_LINES)) if self.every == "auto"
                       else self.every)
        if self._use_tqdm(stream):
            from tqdm import tqdm
            width = {} if self._columns(stream) else {"ncols": self.FALLBACK_COLUMNS}
            self._bar = tqdm(total=self.trainer.epochs, initial=self.trainer.epoch, file=stream,
                             unit="epoch", dynamic_ncols=not width, **width)

    def _eta(self, epoch):
        done = epoch + 1 - self._first
        left = self.trainer.epochs - (epoch + 1)
        return (time.perf_counter() - self._t0) / max(done, 1) * left

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.set_postfix_str(describe(logs), refresh=False)
            self._bar.update(1)
            return
        total = self.trainer.epochs
        if (epoch + 1 - self._first) % self._every and epoch + 1 != total and not self.trainer.stop_training:
            return
        width = len(str(total))
        self._stream.write(f"epoch {epoch + 1:>{width}}/{total} {describe(logs)} "
                           f"eta {_format_time(self._eta(epoch))}\n")
        self._stream.flush()

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        reason = (logs or {}).get("stop_reason")
        if reason and self._bar is None and not reason.startswith("max epochs"):
            self._stream.write(f"stopped: {reason}\n")
            self._stream.flush()
