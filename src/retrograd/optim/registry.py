"""The optimizer name registry: ``rg.optim.get('rprop', params, lr=...)`` for config files and the CLI."""
_REGISTRY = {}


def register(name, cls):
    """Make ``cls`` available as ``get(name, ...)``; names are case-insensitive."""
    _REGISTRY[name.lower()] = cls
    return cls


def names():
    """The registered optimizer names, sorted."""
    return sorted(_REGISTRY)


def get(name, params, **hyper):
    """Build the optimizer registered under ``name`` on ``params`` with hyperparameters ``hyper``.

    ``dp_clip``, ``dp_noise``, ``dp_seed``: wrap a first-order optimizer in DP-SGD's per-example
    clipping and noise (``retrograd.optim.private``).
    """
    private = {k: hyper.pop(k) for k in ("dp_clip", "dp_noise", "dp_seed") if k in hyper}
    if isinstance(name, type):
        cls = name
    else:
        cls = _REGISTRY.get(str(name).lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(names())}")
    opt = cls(params, **hyper)
    if private:
        from .private import with_per_example_clipping
        return with_per_example_clipping(opt, **private)
    return opt


def get_class(name):
    """The class registered under ``name`` (to read ``full_batch`` / ``closure_kind`` before building)."""
    cls = _REGISTRY.get(str(name).lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(names())}")
    return cls
