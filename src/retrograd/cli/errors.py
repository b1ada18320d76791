"""The command line's error kinds besides ConfigError (exit 2): damaged run files, missing packages, divergence.

Each maps to exit status 1 and one line on stderr (see ``retrograd.cli.main``).
"""
import importlib
from types import ModuleType

# import name -> (pip name, the retrograd extra that installs it)
OPTIONAL_PACKAGES = {
    "sklearn": ("scikit-learn", "sklearn"),
    "mnist1d": ("mnist1d", "mnist1d"),
    "matplotlib": ("matplotlib", "plot"),
    "tqdm": ("tqdm", "progress"),
    "tomli": ("tomli", "toml"),
}

# dataset name -> the import it needs (the others are generated or read from files by retrograd itself)
DATASET_PACKAGES = {"digits": "sklearn", "iris": "sklearn", "wine": "sklearn", "breast_cancer": "sklearn",
                    "mnist1d": "mnist1d"}


class RunError(Exception):
    """A file of a run directory that is missing, damaged or inconsistent (exit status 1)."""


class MissingPackageError(Exception):
    """An optional package that the requested feature needs is not installed (exit status 1)."""


class TrainingDiverged(Exception):
    """Training stopped on a non-finite or exploding loss; the run directory holds the last good weights."""


def require(module: str, needed_for: str) -> ModuleType:
    """Import ``module`` or raise MissingPackageError naming the pip package and retrograd's extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pip_name, extra = OPTIONAL_PACKAGES[module]
        raise MissingPackageError(f"{needed_for} needs the {pip_name} package, which is not installed: "
                                  f"pip install 'retrograd[{extra}]' (or pip install {pip_name})") from None
