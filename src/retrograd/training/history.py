"""History: what the fit loop recorded, one list entry per epoch."""


class History(dict):
    """A dict of per-epoch lists: ``loss``, ``val_loss``, each metric (``accuracy``,
    ``val_accuracy``, ...), ``lr`` and ``time`` (seconds since training began).

    Also carries ``epochs`` (how many epochs ran), ``stop_reason`` (which rule
    ended training, or ``"max epochs"``), ``stopped_epoch`` and ``diverged``
    (True when the run ended because its loss or weights became non-finite or
    its loss exploded; the weights are then those of the last good epoch).
    ``fit`` creates every key its epochs will log before the first epoch, so a
    run that stops early still has them (as empty lists); ``history["val_loss"]``
    is absent without validation data.
    """

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.stop_reason = None
        self.stopped_epoch = None
        self.diverged = False

    @property
    def epochs(self):
        return len(self.get("loss", ()))

    def declare(self, keys):
        """Make sure each of ``keys`` exists (None for the epochs already recorded without it)."""
        n = self.epochs
        for key in keys:
            if key != "epoch" and key not in self:
                self[key] = [None] * n

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
                "stop_reason": self.stop_reason, "stopped_epoch": self.stopped_epoch,
                "diverged": self.diverged}

    @classmethod
    def from_json(cls, d):
        h = cls(d.get("values", {}))
        h.stop_reason = d.get("stop_reason")
        h.stopped_epoch = d.get("stopped_epoch")
        h.diverged = bool(d.get("diverged", False))
        return h

    def __repr__(self):
        keys = ", ".join(self.keys())
        return (f"History(epochs={self.epochs}, keys=[{keys}], stop_reason={self.stop_reason!r}, "
                f"diverged={self.diverged})")
