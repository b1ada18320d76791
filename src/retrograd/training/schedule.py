"""The callback that steps a learning-rate schedule once per epoch (or per batch)."""
from .callbacks import Callback


class LRScheduler(Callback):
    """Steps ``scheduler`` (from ``rg.optim.lr_scheduler``) at each epoch end, or each batch end with
    ``per='batch'`` (OneCycleLR, warm-up). Schedules that take a metric (ReduceLROnPlateau) get
    ``monitor`` (``val_loss`` when there is validation data, else ``loss``)."""

    def __init__(self, scheduler, per="epoch", monitor=None):
        if per not in ("epoch", "batch"):
            raise ValueError(f"LRScheduler(per={per!r}): use 'epoch' or 'batch'")
        self.scheduler = scheduler
        self.per = per
        self.monitor = monitor
        if per == "batch":
            self.on_batch_end = self._batch_end

    def _takes_metric(self):
        return type(self.scheduler).__name__ == "ReduceLROnPlateau"

    def on_epoch_end(self, epoch, logs=None):
        if self.per != "epoch":
            return
        if self._takes_metric():
            key = self.monitor or ("val_loss" if "val_loss" in logs else "loss")
            self.scheduler.step(logs[key])
        else:
            self.scheduler.step()

    def _batch_end(self, batch, logs=None):
        self.scheduler.step()

    def state_dict(self):
        return self.scheduler.state_dict()

    def load_state_dict(self, state):
        self.scheduler.load_state_dict(state)
