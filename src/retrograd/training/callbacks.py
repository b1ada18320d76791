"""The callback protocol (hook names as in Keras) and the list that dispatches events to callbacks."""

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_batch_begin", "on_batch_end")


class Callback:
    """Base class: override any hook. The trainer calls ``set_trainer`` before training.

    ``logs`` is a dict: at epoch end it holds ``epoch``, ``loss``, ``val_loss``,
    metric values, ``lr`` and ``time``; at batch end ``batch``, ``size`` and
    ``loss``. A callback stops training by setting ``trainer.stop_training =
    True`` and ``trainer.stop_reason``. Callbacks with state that must survive a
    resume implement ``state_dict()`` / ``load_state_dict()`` (JSON-able
    scalars and lists; arrays under the key ``"arrays"``).
    """
    trainer = None

    def set_trainer(self, trainer):
        self.trainer = trainer

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass


def _overrides(cb, hook):
    """True when ``cb`` has its own ``hook`` (class or instance), not the empty base method."""
    fn = getattr(cb, hook, None)
    if fn is None:
        return False
    return getattr(fn, "__func__", fn) is not getattr(Callback, hook)


class CallbackList:
    """Dispatches each event to the callbacks that implement it.

    Batch events are the hot path, so the listeners of each hook are found once;
    ``wants_batch_events`` lets the trainer skip building batch logs at all when
    nobody listens.
    """

    def __init__(self, callbacks, trainer):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if hasattr(cb, "set_trainer"):
                cb.set_trainer(trainer)
            else:
                cb.trainer = trainer
        self._listeners = {h: [getattr(cb, h) for cb in self.callbacks if _overrides(cb, h)]
                           for h in HOOKS}
        self.wants_batch_events = bool(self._listeners["on_batch_begin"]
                                       or self._listeners["on_batch_end"])

    def fire(self, hook, *args):
        for fn in self._listeners[hook]:
            fn(*args)
