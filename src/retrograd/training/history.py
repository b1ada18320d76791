"""History: what the fit loop recorded, one list entry per epoch."""


class History(dict):
    """A dict of per-epoch lists: ``loss``, ``val_loss``, each metric (``accuracy``,
    ``val_accuracy``, ...), ``lr`` and ``time`` (seconds since training began).

    Also carries ``epochs`` (how many epochs ran), ``stop_reason`` (which rule
    ended training, or ``"max epochs"``) and ``stopped_epoch``. Only keys that
    were recorded exist; ``history["val_loss"]`` is absent without validation data.
    """

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.stop_reason = None
        self.stopped_epoch = None

    @property
    def epochs(self):
        return len(self.get("loss", ()))

    def record(self, logs):
        """Append one epoch's values; keys first seen late get None for the earlier epochs."""
        n = self.epochs
        for key, value in logs.items():
            if key == "epoch":
                continue
            if key not in self:
                self[key] = [None] * n
            self[key].append(value)
        for key, values in self.items():
            if len(values) < n + 1:
                values.append(None)

    def last(self, key, default=None):
        values = self.get(key)
        return values[-1] if values else default

    def to_json(self):
        """A JSON-able dict (lists of floats) plus the stop reason."""
        return {"values": {k: list(v) for k, v in self.items()},
                "stop_reason": self.stop_reason, "stopped_epoch": self.stopped_epoch}

    @classmethod
    def from_json(cls, d):
        h = cls(d.get("values", {}))
        h.stop_reason = d.get("stop_reason")
        h.stopped_epoch = d.get("stopped_epoch")
        return h

    def __repr__(self):
        keys = ", ".join(self.keys())
        return f"History(epochs={self.epochs}, keys=[{keys}], stop_reason={self.stop_reason!r})"
