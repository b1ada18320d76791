"""CSV / TSV / NPZ files with a named target column, validated cell by cell (file, line, column)."""
import csv
import math
import warnings
from pathlib import Path

import numpy as np

from .errors import DataError
from .npz import read_npz


def _delimiter_for(path, delimiter):
    if delimiter is not None:
        return delimiter
    return "\t" if Path(path).suffix.lower() in (".tsv", ".tab") else ","


def _column_label(header, j):
    """'3 ("petal_width")' when there is a header, else the 1-based column number."""
    return f'{j + 1} ("{header[j]}")' if header else j + 1


def read_table(path, delimiter=None, header=True):
    """Read a numeric CSV/TSV into ``(column_names, float64 array)``.

    Every row must have as many cells as the first; every cell must be a finite number. Blank
    lines are skipped, lines starting with '#' are comments. Anything else raises DataError with
    the file, the 1-based line and the column (number and header name).
    """
    path = Path(path)
    delim = _delimiter_for(path, delimiter)
    fast = _read_fast(path, delim, header)
    if fast is not None:
        return fast
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot open table: {exc.strerror}", path) from None
    names, rows = None, []
    with handle:
        reader = csv.reader(handle, delimiter=delim)
        width = None
        try:
            for cells in reader:
                line = reader.line_num
                if not cells or all(c.strip() == "" for c in cells) or cells[0].lstrip().startswith("#"):
                    continue
                if width is None:
                    width = len(cells)
                    if header:
                        names = [c.strip() for c in cells]
                        if len(set(names)) != len(names):
                            dup = sorted({n for n in names if names.count(n) > 1})
                            raise DataError(f"duplicate column names {dup} in the header", path, line)
                        continue
                if len(cells) != width:
                    raise DataError(f"ragged row: {len(cells)} cells where the "
                                    f"{'header' if header else 'first row'} has {width} "
                                    f"(delimiter {delim!r})", path, line)
                rows.append(_parse_row(cells, names, path, line))
        except UnicodeDecodeError as exc:
            raise DataError(f"not UTF-8 text ({exc.reason}); is this a binary file?", path) from None
        except csv.Error as exc:
            raise DataError(f"malformed CSV: {exc}", path, reader.line_num) from None
    if width is None:
        raise DataError("the file is empty", path)
    if not rows:
        raise DataError("the file has a header but no data rows", path)
    return (names or [str(j) for j in range(width)]), np.array(rows, dtype=np.float64)


def _read_fast(path, delim, header):
    """NumPy's C parser for the common case of a clean file; None sends the file to the checking
    parser, which finds and names the first problem (so errors always say line and column)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            first = handle.readline()
        names = None
        if header:
            names = [c.strip() for c in next(csv.reader([first], delimiter=delim), [])]
            if not first.strip() or len(set(names)) != len(names) or "" in names:
                return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # an empty table warns; it is rejected below anyway
            table = np.loadtxt(path, delimiter=delim, skiprows=1 if header else 0, ndmin=2,
                               comments=None, dtype=np.float64, encoding="utf-8-sig")
    except (ValueError, OSError, UnicodeDecodeError, csv.Error):
        return None
    if table.size == 0 or not np.isfinite(table).all() or (names and table.shape[1] != len(names)):
        return None
    return (names or [str(j) for j in range(table.shape[1])]), table


def _parse_row(cells, names, path, line):
    values = []
    for j, cell in enumerate(cells):
        text = cell.strip()
        if text == "" or text.upper() in ("NA", "N/A", "NULL", "NONE", "?"):
            raise DataError(f"missing value {cell!r}; fill or drop the row", path, line,
                            _column_label(names, j))
        try:
            value = float(text)
        except ValueError:
            raise DataError(f"non-numeric cell {cell!r}; every feature must be a number (encode categories "
                            "as integers; only the target column may hold text class labels)", path, line,
                            _column_label(names, j)) from None
        if not math.isfinite(value):
            raise DataError(f"{text} is not a finite number (NaN/Inf are not allowed)", path, line,
                            _column_label(names, j))
        values.append(value)
    return values


def _target_index(names, target, path):
    if isinstance(target, int):
        if not -len(names) <= target < len(names):
            raise DataError(f"target column {target} is out of range for {len(names)} columns", path)
        return target % len(names)
    if target not in names:
        raise DataError(f"no target column {target!r}; the columns are {names}", path)
    return names.index(target)


def _as_labels_if_integral(y):
    """Integer-valued targets become int64 class labels; anything else stays float64."""
    if np.all(y == np.round(y)):
        return y.astype(np.int64)
    return y


def load_csv(path, target, delimiter=None, header=True, dtype=np.float32, return_names=False):
    """Load a CSV/TSV as ``(X, y)``: X holds every column but ``target`` (a name, or an index when
    there is no header); y is that column, as int64 labels when every value is an integer.

    A target column holding text (class names such as ``virginica``) is returned as an array of
    strings (stripped of surrounding blanks); the features must still be numbers. With
    ``return_names`` the feature column names come third.
    """
    try:
        names, table = read_table(path, delimiter=delimiter, header=header)
        labels = None
    except DataError as exc:
        names, table, labels = _retry_with_text_target(exc, path, target, delimiter, header)
    t = _target_index(names, target, path)
    keep = [j for j in range(len(names)) if j != t]
    if not keep:
        raise DataError("the table has only the target column; there are no features", path)
    X = table[:, keep].astype(dtype)
    y = labels if labels is not None else _as_labels_if_integral(table[:, t])
    if return_names:
        return X, y, [names[j] for j in keep]
    return X, y


def _retry_with_text_target(exc, path, target, delimiter, header):
    """When the only complaint was a non-numeric cell in the target column, read the file again
    keeping that column as text (class names); any other error is raised as it was."""
    delim = _delimiter_for(path, delimiter)
    first = _header_names(path, delim)
    if first is None or "non-numeric cell" not in str(exc):
        raise exc
    names = first if header else [str(j) for j in range(len(first))]
    try:
        t = _target_index(names, target, path)
    except DataError:
        raise exc from None
    if exc.column != _column_label(names if header else None, t):
        raise exc
    return _read_text_target(Path(path), delim, header, t)


def _header_names(path, delim):
    """The stripped cells of the first non-blank, non-comment line, or None when unreadable."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            for cells in csv.reader(handle, delimiter=delim):
                if cells and any(c.strip() for c in cells) and not cells[0].lstrip().startswith("#"):
                    return [c.strip() for c in cells]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return None


def _read_text_target(path, delim, header, t):
    """``(names, table, labels)`` with column ``t`` kept as text; the other cells are checked as
    ``read_table`` checks them (the table's column ``t`` is zero-filled)."""
    names, rows, labels, width = None, [], [], None
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delim)
        try:
            for cells in reader:
                line = reader.line_num
                if not cells or all(c.strip() == "" for c in cells) or cells[0].lstrip().startswith("#"):
                    continue
                if width is None:
                    width = len(cells)
                    if header:
                        names = [c.strip() for c in cells]
                        continue
                if len(cells) != width:
                    raise DataError(f"ragged row: {len(cells)} cells where the "
                                    f"{'header' if header else 'first row'} has {width} "
                                    f"(delimiter {delim!r})", path, line)
                label = cells[t].strip()
                if label == "" or label.upper() in ("NA", "N/A", "NULL", "NONE", "?"):
                    raise DataError(f"missing class label {cells[t]!r}; fill or drop the row", path, line,
                                    _column_label(names, t))
                labels.append(label)
                rows.append(_parse_row(cells[:t] + ["0"] + cells[t + 1:], names, path, line))
        except UnicodeDecodeError as exc:
            raise DataError(f"not UTF-8 text ({exc.reason}); is this a binary file?", path) from None
        except csv.Error as exc:
            raise DataError(f"malformed CSV: {exc}", path, reader.line_num) from None
    return (names or [str(j) for j in range(width)]), np.array(rows, dtype=np.float64), np.array(labels)


def load_npz(path, x_key="X", y_key="y", dtype=np.float32):
    """Load ``(X, y)`` from an .npz archive (as written by ``numpy.savez`` / ``numpy.savez_compressed``).

    X must be numeric with at least 2 dimensions, y must have one entry per row of X, and neither
    may hold NaN or Inf. ``y_key=None`` returns X alone.

    The archive is not trusted (see ``retrograd.data.npz``): object arrays are refused (no pickle),
    and every size in the zip directory and the .npy headers is checked against the file before
    anything is allocated. Any problem -- a damaged, truncated or foreign archive, a missing,
    non-numeric or oversized array -- raises :class:`DataError` naming the file and the array.
    """
    path = Path(path)
    arrays = read_npz(path, [k for k in (x_key, y_key) if k is not None])
    X = _check_numeric(arrays[x_key], x_key, path)
    if X.ndim < 2:
        raise DataError(f"X must have shape (n_samples, n_features...), got {X.shape}", path, array=x_key)
    if y_key is None:
        return X.astype(dtype)
    y = _check_numeric(arrays[y_key], y_key, path)
    if y.ndim == 0:
        raise DataError(f"{y_key!r} is a single value; it needs one entry per row of {x_key!r}", path,
                        array=y_key)
    if len(y) != len(X):
        raise DataError(f"{y_key!r} has {len(y)} entries but {x_key!r} has {len(X)} rows", path, array=y_key)
    y = _as_labels_if_integral(y) if np.issubdtype(y.dtype, np.floating) else y.astype(np.int64)
    return X.astype(dtype), y


def _check_numeric(array, key, path):
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise DataError(f"array {key!r} has dtype {array.dtype}; it must be numeric", path, array=key)
    if np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.complexfloating):
        bad = np.argwhere(~np.isfinite(array))
        if len(bad):
            raise DataError(f"array {key!r} holds a non-finite value {array[tuple(bad[0])]} at index "
                            f"{tuple(int(i) for i in bad[0])} ({len(bad)} in all)", path, array=key)
    return array


def save_csv(path, X, y=None, feature_names=None, target="target", delimiter=","):
    """Write X (and optionally y as the last column) with a header; integers are written without '.0'."""
    X = np.asarray(X)
    X = X.reshape(len(X), -1)
    names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(X.shape[1])]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(names + ([target] if y is not None else []))
        for i in range(len(X)):
            row = [_fmt(v) for v in X[i]]
            if y is not None:
                row.append(_fmt(np.asarray(y)[i]))
            writer.writerow(row)


def _fmt(value):
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    return repr(float(value))
