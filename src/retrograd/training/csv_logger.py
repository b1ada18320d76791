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
    """Replace ``path`` with ``text``: temp file in the same folder, fsync, rename."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
