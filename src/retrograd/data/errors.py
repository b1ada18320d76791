"""DataError: a file or array that cannot be used, named by file, line and column."""


class DataError(ValueError):
    """A data input is malformed. The message names the file, and where known the line and column.

    Attributes ``path``, ``line`` (1-based) and ``column`` (1-based number or column name) are kept
    so that callers (the CLI) can report them without parsing the message.
    """

    def __init__(self, message, path=None, line=None, column=None):
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
