"""DataError: a file or array that cannot be used, named by file, line and column (or array)."""
from typing import Optional, Union


class DataError(ValueError):
    """A data input is malformed. The message names the file, and where known the line and column,
    or the array inside an archive (.npz).

    Attributes ``path``, ``line`` (1-based), ``column`` (1-based number or column name) and
    ``array`` (the name of an array in an .npz archive) are kept so that callers (the CLI) can
    report them without parsing the message. Every reader in ``retrograd.data`` (CSV/TSV, NPZ,
    IDX) raises this type, and only this type, for a file it cannot use: damaged, truncated,
    malformed, or claiming more data than it holds.
    """

    def __init__(self, message: str, path: object = None, line: Optional[int] = None,
                 column: Union[int, str, None] = None, array: Optional[str] = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.array = array
        where = []
        if self.path is not None:
            where.append(self.path)
        if array is not None:
            where.append(f"array {array!r}")
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
