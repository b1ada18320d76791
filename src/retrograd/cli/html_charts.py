"""Charts for the HTML report without matplotlib: inline SVG line charts and heatmaps, PNG images as data URIs.

Everything is plain text built from NumPy arrays, so the page needs no
network, no fonts and no plotting library: a line chart is one <svg> with a
<polyline> per series; images (weights, decision boundaries) are PNGs
encoded here with zlib (the format's filter 0 rows, 8-bit RGB) and inlined
as base64 ``data:`` URIs.
"""
import base64
import math
import struct
import zlib
from html import escape
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

# Tableau's ten colours: distinct in print and for the common colour-vision deficiencies.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MAX_POINTS = 500          # per series: more points than pixels only make the page heavier


# ---------------------------------------------------------------------------- PNG
def png_bytes(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB image (H, W, 3) as PNG file bytes."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"png_bytes: need an (H, W, 3) array, got shape {rgb.shape}")
    h, w, _ = rgb.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1)   # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
            + chunk(b"IEND", b""))


def png_data_uri(rgb: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgb)).decode("ascii")


def img_tag(rgb: np.ndarray, width: int, alt: str, pixelated: bool = False, cls: str = "") -> str:
    style = "image-rendering:pixelated;" if pixelated else ""
    return (f'<img class="{cls}" src="{png_data_uri(rgb)}" width="{width}" alt="{escape(alt)}" '
            f'style="{style}">')


# ---------------------------------------------------------------------------- colour maps
def diverging(values: np.ndarray, vmax: Optional[float] = None) -> np.ndarray:
    """Blue (negative) - white (0) - red (positive) as uint8 RGB, symmetric around 0."""
    v = np.asarray(values, dtype=np.float64)
    vmax = float(np.nanmax(np.abs(v))) if vmax is None else float(vmax)
    t = np.clip(v / vmax, -1.0, 1.0) if vmax > 0 else np.zeros_like(v)
    blue, red, white = np.array([33, 102, 172.]), np.array([178, 24, 43.]), np.array([247, 247, 247.])
    a = np.abs(t)[..., None]
    end = np.where(t[..., None] < 0, blue, red)
    return np.round(white * (1 - a) + end * a).astype(np.uint8)


def sequential(values: np.ndarray) -> np.ndarray:
    """White (0) to dark blue (1) as uint8 RGB, for counts and fractions."""
    t = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)[..., None]
    white, dark = np.array([247, 251, 255.]), np.array([8, 48, 107.])
    return np.round(white * (1 - t) + dark * t).astype(np.uint8)


# ---------------------------------------------------------------------------- axes
def nice_ticks(lo: float, hi: float, count: int = 5) -> List[float]:
    """About ``count`` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    k = 0
    while first + k * step <= hi + step * 1e-9:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{v:.4g}"


def _decimate(xs: np.ndarray, ys: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    if len(xs) <= MAX_POINTS:
        return xs, ys
    idx = np.unique(np.linspace(0, len(xs) - 1, MAX_POINTS).astype(int))
    return xs[idx], ys[idx]


class Series:
    """One line of a chart: label, x values, y values (NaN or None leave a gap), colour, dashed or not."""

    def __init__(self, label: str, xs: Any, ys: Any, color: Optional[str] = None,
                 dashed: bool = False, width: float = 1.8):
        self.label = label
        self.xs = np.asarray(xs, dtype=np.float64)
        self.ys = np.asarray([np.nan if v is None else v for v in ys], dtype=np.float64)
        self.color, self.dashed, self.width = color, dashed, width


def line_chart(series: Sequence[Series], title: str, xlabel: str = "epoch", ylabel: str = "",
               log_y: Any = "auto", hlines: Sequence[Tuple[float, str, str]] = (), width: int = 560,
               height: int = 300) -> str:
    """An inline SVG line chart. ``log_y="auto"`` uses a log axis when positive data span over two decades.

    ``hlines`` are (y, label, colour) reference lines (e.g. a baseline), drawn dashed.
    """
    series = [s for s in series if np.isfinite(s.ys).any()]
    for k, s in enumerate(series):
        s.color = s.color or PALETTE[k % len(PALETTE)]
    ys_all = np.concatenate([s.ys[np.isfinite(s.ys)] for s in series] + [np.array([h[0] for h in hlines])]) \
        if series else np.array([])
    if log_y == "auto":
        pos = ys_all[ys_all > 0]
        log_y = bool(len(pos) == len(ys_all) and len(pos) and pos.max() / pos.min() > 100)
    entries = [(s.label, s.color or "#000", s.dashed) for s in series] + [(lab, c, True) for _, lab, c in hlines]
    places, legend_lines = _legend_layout([e[0] for e in entries], 62, width - 14)
    left, right, top, bottom = 62, 14, 30 + 16 * legend_lines, 40
    pw, ph = width - left - right, height - top - bottom
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
             f'<text x="{left}" y="18" class="ct">{escape(title)}</text>']
    if not series:
        parts.append(f'<text x="{left}" y="{top + ph / 2}" class="ax">no data recorded</text></svg>')
        return "".join(parts)
    xs_all = np.concatenate([s.xs for s in series])
    x0, x1 = float(xs_all.min()), float(xs_all.max())
    if x1 <= x0:
        x1 = x0 + 1
    tf = (lambda v: np.log10(np.maximum(v, 1e-300))) if log_y else (lambda v: v)
    ty = tf(ys_all[ys_all > 0] if log_y else ys_all)
    y0, y1 = float(ty.min()), float(ty.max())
    if y1 - y0 < 1e-12 * max(1.0, abs(y1)):
        y0, y1 = y0 - (0.5 if log_y else max(abs(y0) * 0.1, 1e-3)), y1 + (0.5 if log_y else max(abs(y1) * 0.1, 1e-3))
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad

    def px(x: Any) -> Any:
        return left + (np.asarray(x) - x0) / (x1 - x0) * pw

    def py(y: Any) -> Any:
        return top + ph - (tf(np.asarray(y, dtype=np.float64)) - y0) / (y1 - y0) * ph

    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fbfbfd" stroke="#ccc"/>')
    yticks = ([10.0 ** e for e in range(math.floor(y0), math.ceil(y1) + 1) if y0 <= e <= y1] if log_y
              else nice_ticks(y0, y1))
    if log_y and len(yticks) < 2:
        yticks = [10 ** v for v in nice_ticks(y0, y1, 3)]
    for v in yticks:
        y = float(py(v))
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4ea"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="ax" text-anchor="end">{_fmt(v)}</text>')
    for v in nice_ticks(x0, x1, 6):
        x = float(px(v))
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 4}" stroke="#888"/>'
                     f'<text x="{x:.1f}" y="{top + ph + 17}" class="ax" text-anchor="middle">{_fmt(v)}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" class="ax" text-anchor="middle">{escape(xlabel)}</text>')
    if ylabel:
        parts.append(f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" class="ax" '
                     f'text-anchor="middle">{escape(ylabel + (" (log)" if log_y else ""))}</text>')
    parts.append(f'<clipPath id="c{id(series)}"><rect x="{left}" y="{top}" width="{pw}" height="{ph}"/></clipPath>'
                 f'<g clip-path="url(#c{id(series)})">')
    for yv, _, color in hlines:
        if not log_y or yv > 0:
            y = float(py(yv))
            parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" '
                         f'stroke-width="1.5" stroke-dasharray="2 3"/>')
    for s in series:
        xs, ys = _decimate(s.xs, s.ys)
        ok = np.isfinite(ys) & ((ys > 0) if log_y else True)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        for run in _runs(ok):
            pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px(xs[run]), py(ys[run])))
            if len(run) == 1:
                a, b = float(px(xs[run][0])), float(py(ys[run][0]))
                parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{s.color}"/>')
            else:
                parts.append(f'<polyline points="{pts}" fill="none" stroke="{s.color}" '
                             f'stroke-width="{s.width}"{dash}/>')
    parts.append("</g>")
    for (label, color, dashed), (lx, ly) in zip(entries, places):
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        parts.append(f'<line x1="{lx:.0f}" x2="{lx + 18:.0f}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}" '
                     f'stroke-width="2.5"{dash}/><text x="{lx + 22:.0f}" y="{ly}" class="lg">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend_layout(labels: Sequence[str], x0: float, x1: float) -> Tuple[List[Tuple[float, float]], int]:
    """(x, baseline y) of each legend entry, filled left to right and wrapped; and the number of lines."""
    places, x, line = [], x0, 0
    for label in labels:
        w = 22 + 6.3 * len(label) + 14              # swatch, text at about 6.3 px a character (11 px font), gap
        if x > x0 and x + w > x1:
            x, line = x0, line + 1
        places.append((x, 34.0 + 16 * line))
        x += w
    return places, line + 1


def scatter_chart(x: np.ndarray, y: np.ndarray, title: str, xlabel: str, ylabel: str, size: int = 300) -> str:
    """Points (x, y) with the diagonal y = x (predictions against targets)."""
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    if hi <= lo:
        hi = lo + 1.0
    pad = 0.04 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    left, top, bottom, right = 56, 30, 40, 12
    pw, ph = size - left - right, size - top - bottom
    sx = lambda v: left + (v - lo) / (hi - lo) * pw         # noqa: E731 - two one-line scales
    sy = lambda v: top + ph - (v - lo) / (hi - lo) * ph     # noqa: E731
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
             f'viewBox="0 0 {size} {size}" role="img" aria-label="{escape(title)}">',
             f'<rect width="{size}" height="{size}" fill="#fff"/><text x="8" y="18" class="ct">{escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fbfbfd" stroke="#ccc"/>']
    for v in nice_ticks(lo, hi, 4):
        parts.append(f'<text x="{left - 5}" y="{sy(v) + 4:.1f}" class="ax" text-anchor="end">{_fmt(v)}</text>'
                     f'<text x="{sx(v):.1f}" y="{top + ph + 15}" class="ax" text-anchor="middle">{_fmt(v)}</text>')
    parts.append(f'<line x1="{sx(lo):.1f}" y1="{sy(lo):.1f}" x2="{sx(hi):.1f}" y2="{sy(hi):.1f}" stroke="#7f7f7f" '
                 'stroke-dasharray="4 3"/>')
    parts += [f'<circle cx="{sx(a):.1f}" cy="{sy(b):.1f}" r="2.4" fill="{PALETTE[0]}" fill-opacity="0.6"/>'
              for a, b in zip(x, y)]
    parts.append(f'<text x="{left + pw / 2}" y="{size - 6}" class="ax" text-anchor="middle">{escape(xlabel)}</text>'
                 f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" class="ax" text-anchor="middle">'
                 f'{escape(ylabel)}</text></svg>')
    return "".join(parts)


def _runs(mask: np.ndarray) -> List[np.ndarray]:
    """Index arrays of the consecutive True stretches of ``mask``."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    cuts = np.flatnonzero(np.diff(idx) > 1) + 1
    return np.split(idx, cuts)


# ---------------------------------------------------------------------------- heatmap
def matrix_chart(counts: np.ndarray, labels: Sequence[str], title: str, cell: int = 34) -> str:
    """A confusion matrix as SVG: rows true class, columns predicted; colour by row fraction, counts written in."""
    counts = np.asarray(counts)
    k = len(labels)
    left, top = 90, 52
    size = k * cell
    width, height = max(left + size + 16, 230), top + size + 44
    frac = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    colors = sequential(frac)
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<rect width="{width}" height="{height}" fill="#fff"/>',
             f'<text x="8" y="18" class="ct">{escape(title)}</text>',
             f'<text x="{left + size / 2}" y="38" class="ax" text-anchor="middle">predicted</text>',
             f'<text transform="translate(14 {top + size / 2}) rotate(-90)" class="ax" text-anchor="middle">true</text>']
    font = max(8, min(12, cell // 3))
    for i in range(k):
        y = top + i * cell
        parts.append(f'<text x="{left - 4}" y="{y + cell / 2 + 4}" class="ax" text-anchor="end">'
                     f'{escape(labels[i][:12])}</text>')
        for j in range(k):
            x = left + j * cell
            r, g, b = colors[i, j]
            parts.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="rgb({r},{g},{b})" '
                         f'stroke="{"#d62728" if i == j else "#fff"}" stroke-width="{1.5 if i == j else 0.5}"/>')
            if counts[i, j]:
                ink = "#fff" if frac[i, j] > 0.55 else "#222"
                parts.append(f'<text x="{x + cell / 2}" y="{y + cell / 2 + font / 3}" text-anchor="middle" '
                             f'font-size="{font}" fill="{ink}">{int(counts[i, j])}</text>')
    for j in range(k):
        cx = left + j * cell + cell / 2
        parts.append(f'<text x="{cx}" y="{top + size + 14}" class="ax" text-anchor="end" '
                     f'transform="rotate(-45 {cx} {top + size + 14})">{escape(labels[j][:12])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(labels: Sequence[str], groups: Sequence[Tuple[str, Sequence[float]]], title: str,
              width: int = 560, height: int = 220) -> str:
    """Grouped vertical bars (e.g. class counts in the training and the test split)."""
    k, m = len(labels), len(groups)
    left, right, top, bottom = 50, 10, 44, 42
    pw, ph = width - left - right, height - top - bottom
    vmax = float(max([max(v) for _, v in groups if len(v)] + [1]))
    ticks = nice_ticks(0, vmax, 4)
    while len(ticks) > 1 and ticks[-1] < vmax:                  # the axis ends on a tick above the top bar
        ticks.append(ticks[-1] + ticks[1] - ticks[0])
    vmax = ticks[-1] if len(ticks) > 1 else vmax
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<rect width="{width}" height="{height}" fill="#fff"/>',
             f'<text x="{left}" y="18" class="ct">{escape(title)}</text>']
    for v in ticks:
        y = top + ph - v / vmax * ph
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4ea"/>'
                     f'<text x="{left - 5}" y="{y + 4:.1f}" class="ax" text-anchor="end">{_fmt(v)}</text>')
    slot = pw / max(k, 1)
    bw = slot * 0.8 / max(m, 1)
    for g, (name, values) in enumerate(groups):
        color = PALETTE[g % len(PALETTE)]
        parts.append(f'<rect x="{left + g * 110}" y="27" width="10" height="10" fill="{color}"/>'
                     f'<text x="{left + g * 110 + 14}" y="36" class="lg">{escape(name)}</text>')
        for i, v in enumerate(values):
            h = v / vmax * ph
            parts.append(f'<rect x="{left + i * slot + slot * 0.1 + g * bw:.1f}" y="{top + ph - h:.1f}" '
                         f'width="{bw:.1f}" height="{h:.1f}" fill="{color}"/>')
    step = max(1, k // 20)
    for i in range(0, k, step):
        parts.append(f'<text x="{left + (i + 0.5) * slot:.1f}" y="{top + ph + 14}" class="ax" '
                     f'text-anchor="middle">{escape(labels[i][:8])}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------- image mosaics
def mosaic(tiles: np.ndarray, columns: int, scale: int = 1, gap: int = 2) -> np.ndarray:
    """(n, h, w, 3) uint8 tiles in a grid with ``gap`` grey pixels between them, each pixel ``scale`` times."""
    n, h, w, _ = tiles.shape
    tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    h, w = h * scale, w * scale
    rows = -(-n // columns)
    out = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap, 3), 160, np.uint8)
    for k in range(n):
        r, c = divmod(k, columns)
        out[gap + r * (h + gap):gap + r * (h + gap) + h, gap + c * (w + gap):gap + c * (w + gap) + w] = tiles[k]
    return out


def upsample(z: np.ndarray, factor: int) -> np.ndarray:
    """Bilinear upsampling of a 2-D array by an integer factor (for smooth decision-boundary images)."""
    h, w = z.shape
    ys, xs = np.linspace(0, h - 1, h * factor), np.linspace(0, w - 1, w * factor)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = z[y0][:, x0] * (1 - fx) + z[y0][:, x1] * fx
    bot = z[y1][:, x0] * (1 - fx) + z[y1][:, x1] * fx
    return top * (1 - fy) + bot * fy
