"""Learning-rate schedules with torch-like names and semantics: ``sched.step()`` once per epoch (or step)."""
import bisect
import math


class LRScheduler:
    """Base: remembers each group's starting lr (``initial_lr``) and sets ``group['lr']`` on every ``step()``.

    As in torch, building a scheduler applies epoch 0 at once; ``last_epoch`` counts the
    ``step()`` calls since. Subclasses define ``lr_at(base_lr, epoch)`` (closed form).
    """

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            if last_epoch == -1 or "initial_lr" not in group:
                group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr, epoch):
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        """The scheduler's own numbers (not the optimizer): only Python scalars and lists."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state):
        self.__dict__.update(state)


class StepLR(LRScheduler):
    """lr = base * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base, epoch):
        return base * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = base * gamma ** (number of milestones <= epoch)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = sorted(int(m) for m in milestones), float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base, epoch):
        return base * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class ExponentialLR(LRScheduler):
    """lr = base * gamma ** epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base, epoch):
        return base * self.gamma ** epoch


class LinearWarmup(LRScheduler):
    """lr = base * (start_factor + (1 - start_factor) * min(epoch, warmup_steps) / warmup_steps).

    Equals ``torch.optim.lr_scheduler.LinearLR(start_factor, end_factor=1, total_iters=warmup_steps)``.
    """

    def __init__(self, optimizer, warmup_steps, start_factor=1.0 / 3, last_epoch=-1):
        if warmup_steps < 1:
            raise ValueError(f"LinearWarmup: warmup_steps must be >= 1, got {warmup_steps}")
        self.warmup_steps, self.start_factor = int(warmup_steps), float(start_factor)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base, epoch):
        frac = min(epoch, self.warmup_steps) / self.warmup_steps
        return base * (self.start_factor + (1.0 - self.start_factor) * frac)


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter 2017): lr = eta_min + (base - eta_min) (1 + cos(pi T_cur / T_i)) / 2.

    T_cur counts steps since the last restart; the period starts at T_0 and is multiplied by T_mult.
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if T_0 < 1 or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: need T_0 >= 1 and T_mult >= 1, got {T_0}, {T_mult}")
        self.T_0, self.T_mult, self.eta_min = int(T_0), int(T_mult), float(eta_min)
        self.T_i, self.T_cur = self.T_0, -1
        super().__init__(optimizer, last_epoch)

    def step(self):
        self.T_cur += 1
        if self.T_cur >= self.T_i:
            self.T_cur -= self.T_i
            self.T_i *= self.T_mult
        super().step()

    def lr_at(self, base, epoch):
        return self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2


class OneCycleLR(LRScheduler):
    """One-cycle policy (Smith & Topin 2019), as ``torch.optim.lr_scheduler.OneCycleLR`` (two phases).

    lr rises from max_lr / div_factor to max_lr over pct_start of total_steps, then anneals to
    max_lr / (div_factor * final_div_factor); momentum (or Adam's beta1) moves the opposite way
    between max_momentum and base_momentum when ``cycle_momentum``.
    """

    def __init__(self, optimizer, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
                 final_div_factor=1e4, cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 last_epoch=-1):
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.total_steps, self.anneal_strategy = int(total_steps), anneal_strategy
        self.max_lr = float(max_lr)
        self.initial = self.max_lr / div_factor
        self.min_lr = self.initial / final_div_factor
        self.phase_end = float(pct_start * self.total_steps) - 1
        self.cycle_momentum = bool(cycle_momentum)
        self.base_momentum, self.max_momentum = float(base_momentum), float(max_momentum)
        for g in optimizer.param_groups:
            if last_epoch == -1:
                g["initial_lr"] = self.initial
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _phase(self, epoch):
        if epoch > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {epoch} times but total_steps is {self.total_steps}")
        if epoch <= self.phase_end:
            return 0, epoch / self.phase_end
        return 1, (epoch - self.phase_end) / (self.total_steps - 1 - self.phase_end)

    def lr_at(self, base, epoch):
        phase, pct = self._phase(epoch)
        if phase == 0:
            return self._anneal(self.initial, self.max_lr, pct)
        return self._anneal(self.max_lr, self.min_lr, pct)

    def step(self):
        super().step()
        if not self.cycle_momentum:
            return
        phase, pct = self._phase(self.last_epoch)
        lo, hi = self.base_momentum, self.max_momentum
        mom = self._anneal(hi, lo, pct) if phase == 0 else self._anneal(lo, hi, pct)
        for g in self.optimizer.param_groups:
            if "betas" in g:
                g["betas"] = (mom, g["betas"][1])
            elif "momentum" in g:
                g["momentum"] = mom


class ReduceLROnPlateau:
    """Cut the lr by ``factor`` when ``step(metric)`` has not improved for ``patience`` calls (as torch)."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min'/'max' and threshold_mode 'rel'/'abs', "
                             f"got {mode!r}, {threshold_mode!r}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, float(factor), int(patience)
        self.threshold, self.threshold_mode = float(threshold), threshold_mode
        self.cooldown, self.eps = int(cooldown), float(eps)
        self.min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * len(optimizer.param_groups)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs, self.cooldown_counter, self.last_epoch = 0, 0, 0

    def _better(self, a, best):
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if rel else best - self.threshold)
        return a > (best * (1.0 + self.threshold) if rel else best + self.threshold)

    def step(self, metric):
        metric = float(metric)
        self.last_epoch += 1
        if self._better(metric, self.best):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, lo in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(group["lr"] * self.factor, lo)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state):
        self.__dict__.update(state)


_SCHEDULES = {
    "step": StepLR, "steplr": StepLR, "multistep": MultiStepLR, "multisteplr": MultiStepLR,
    "exponential": ExponentialLR, "exponentiallr": ExponentialLR,
    "cosine_warm_restarts": CosineAnnealingWarmRestarts, "cosineannealingwarmrestarts": CosineAnnealingWarmRestarts,
    "linear_warmup": LinearWarmup, "linearwarmup": LinearWarmup, "onecycle": OneCycleLR, "onecyclelr": OneCycleLR,
    "plateau": ReduceLROnPlateau, "reducelronplateau": ReduceLROnPlateau,
}


def names():
    return sorted(_SCHEDULES)


def get(name, optimizer, **kw):
    """Build the schedule registered under ``name`` (e.g. "step", "onecycle", "plateau") for ``optimizer``."""
    cls = _SCHEDULES.get(str(name).lower())
    if cls is None:
        raise ValueError(f"unknown lr schedule {name!r}; known: {', '.join(names())}")
    return cls(optimizer, **kw)
