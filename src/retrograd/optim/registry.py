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
    """Build the optimizer registered under ``name`` on ``params`` with hyperparameters ``hyper``."""
    if isinstance(name, type):
        return name(params, **hyper)
    cls = _REGISTRY.get(str(name).lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(names())}")
    return cls(params, **hyper)


def get_class(name):
    """The class registered under ``name`` (to read ``full_batch`` / ``closure_kind`` before building)."""
    cls = _REGISTRY.get(str(name).lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(names())}")
    return cls
