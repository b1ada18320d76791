"""Hyperparameter rules: what each optimizer accepts, checked when it is built and when a group is added.

Each optimizer class declares ``hyperparameters = {"lr": Real(low=0), ...}``; the base class
merges the declarations along the class hierarchy (a subclass adds to or overrides its parents')
and checks every argument given to the constructor against them *before* the constructor runs
(``Optimizer.__new__``), and every value of a parameter group given later to
``add_param_group``. A value of the wrong type (a string for a rate, a float for a count)
raises TypeError, one out of range (a negative rate, NaN, a beta of 1) ValueError; both name the
optimizer and the argument. Values set on ``param_groups`` after construction (by schedules, or
by hand) are not checked again.
"""
import inspect
import math
import numbers
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np


class Rule:
    """One hyperparameter's constraint; ``check(value, name)`` raises TypeError/ValueError naming it."""

    allows_none = False

    def check(self, value: Any, name: str) -> None:
        """Raise TypeError or ValueError if ``value`` breaks the rule."""
        raise NotImplementedError

    def describe(self) -> str:
        """What is accepted, in words ("a number >= 0")."""
        raise NotImplementedError

    def _none_ok(self, value: Any) -> bool:
        return value is None and self.allows_none

    def _prefix(self) -> str:
        return "None or " if self.allows_none else ""


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


class Real(Rule):
    """A real number in a range: ``low``/``high`` bounds, open (excluded) when ``*_open``.

    NaN is always refused, and Inf unless ``inf`` (for limits such as ``mu_max``).
    """

    def __init__(self, low: Optional[float] = None, high: Optional[float] = None, low_open: bool = False,
                 high_open: bool = False, none: bool = False, inf: bool = False):
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open
        self.allows_none, self.inf = none, inf

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{self._prefix()}a number in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{self._prefix()}a number {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{self._prefix()}a number {'<' if self.high_open else '<='} {self.high:g}"
        return f"{self._prefix()}a number"

    def check(self, value: Any, name: str) -> None:
        if self._none_ok(value):
            return
        if not _is_real(value):
            raise TypeError(f"{name} must be {self.describe()}, got {type(value).__name__} {value!r}")
        v = float(value)
        bad = (math.isnan(v) or (math.isinf(v) and not self.inf)
               or (self.low is not None and (v <= self.low if self.low_open else v < self.low))
               or (self.high is not None and (v >= self.high if self.high_open else v > self.high)))
        if bad:
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")


class Whole(Rule):
    """A whole number (an int, or a float with an integral value) >= ``low``."""

    def __init__(self, low: int = 0, none: bool = False):
        self.low, self.allows_none = low, none

    def describe(self) -> str:
        return f"{self._prefix()}a whole number >= {self.low}"

    def check(self, value: Any, name: str) -> None:
        if self._none_ok(value):
            return
        if not _is_real(value):
            raise TypeError(f"{name} must be {self.describe()}, got {type(value).__name__} {value!r}")
        if not math.isfinite(float(value)) or float(value) != int(value) or int(value) < self.low:
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")


class Flag(Rule):
    """True or False."""

    def describe(self) -> str:
        return "True or False"

    def check(self, value: Any, name: str) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")


class OneOf(Rule):
    """One of a fixed set of values (names such as 'strong_wolfe', or None)."""

    def __init__(self, *choices: Any):
        self.choices = choices

    def describe(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def check(self, value: Any, name: str) -> None:
        if not any(value is c or (type(value) is type(c) and value == c) for c in self.choices):
            raise ValueError(f"{name} must be {self.describe()}, got {value!r}")


class Pair(Rule):
    """Two values (a tuple or list), each under its own rule; ``ordered``: first <= second."""

    def __init__(self, first: Rule, second: Rule, names: Tuple[str, str], ordered: bool = False):
        self.first, self.second, self.names, self.ordered = first, second, names, ordered

    def describe(self) -> str:
        order = f" with {self.names[0]} <= {self.names[1]}" if self.ordered else ""
        return f"a pair ({self.names[0]}, {self.names[1]}){order}"

    def check(self, value: Any, name: str) -> None:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
            raise TypeError(f"{name} must be {self.describe()}, got {type(value).__name__} {value!r}")
        self.first.check(value[0], f"{name}[0] ({self.names[0]})")
        self.second.check(value[1], f"{name}[1] ({self.names[1]})")
        if self.ordered and not value[0] <= value[1]:
            raise ValueError(f"{name} must be {self.describe()}, got {tuple(value)!r}")


COMMON = {"weight_decay": Real(low=0), "clip_norm": Real(low=0, low_open=True, none=True),
          "clip_value": Real(low=0, low_open=True, none=True)}

_RULES: Dict[type, Dict[str, Rule]] = {}
_SIGNATURES: Dict[type, inspect.Signature] = {}


def rules_of(cls: type) -> Dict[str, Rule]:
    """Every rule that applies to ``cls``: the common ones, then its ancestors', then its own."""
    rules = _RULES.get(cls)
    if rules is None:
        rules = dict(COMMON)
        for klass in reversed(cls.__mro__):
            rules.update(klass.__dict__.get("hyperparameters", {}))
        _RULES[cls] = rules
    return rules


def check_arguments(cls: type, args: tuple, kwargs: dict) -> None:
    """Check the arguments of ``cls(*args, **kwargs)`` against its rules before it is built.

    A call that does not fit the constructor's signature is left to the constructor, which
    reports it in Python's words.
    """
    sig = _SIGNATURES.get(cls)
    if sig is None:
        sig = _SIGNATURES[cls] = inspect.signature(getattr(cls, "__init__"))
    try:
        bound = sig.bind(None, *args, **kwargs)
    except TypeError:
        return
    values: Dict[str, Any] = {}
    for arg, value in bound.arguments.items():
        if sig.parameters[arg].kind is inspect.Parameter.VAR_KEYWORD:
            values.update(value)
        else:
            values[arg] = value
    check_values(cls, values)


def check_values(cls: type, values: Dict[str, Any]) -> None:
    """Check each named value that has a rule (others, such as ``params``, are left alone)."""
    rules = rules_of(cls)
    for key, value in values.items():
        rule = rules.get(key)
        if rule is not None:
            rule.check(value, f"{cls.__name__}: {key}")
