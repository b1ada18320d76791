"""CSVLogger: the history as a CSV file, rewritten atomically after every epoch."""
import csv
import io
import os

from .callbacks import Callback


class CSVLogger(Callback):
    """Writes one row per epoch (epoch, loss, val_loss, metrics, lr, time) to ``path``.

    The whole file is rewritten through a temp file, fsync and rename after
    each epoch, so a reader (or a crash) never sees half a row; on resume the
    rows come from the restored history.
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    def on_epoch_end(self, epoch, logs=None):
        history = self.trainer.history
        keys = list(history.keys())
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["epoch"] + keys)
        for i in range(history.epochs):
            row = [i + 1] + ["" if history[k][i] is None else repr(history[k][i]) for k in keys]
            writer.writerow(row)
        write_atomic(self.path, buf.getvalue())


def write_atomic(path, text):
    """Replace ``path`` with ``text`` (UTF-8) through ``retrograd.io.atomic_write``."""
    from ..io.atomic import atomic_write
    with atomic_write(path) as fh:
        fh.write(text.encode("utf-8"))
