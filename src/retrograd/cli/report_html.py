"""`retrograd report RUN`: one self-contained report.html (curves, metrics, boundary, weights, norms) for a run directory.

The page needs nothing outside itself: charts are inline SVG, images are PNG
``data:`` URIs (html_charts.py), styles are inline, and the only script
drives the decision-boundary slider. matplotlib is not used. What training
recorded for the report lies in the run directory beside history.csv:
``norms.csv`` (ParameterNorms, per-layer norms per epoch), ``boundary.safetensors``
(decision-boundary snapshots of 2-D problems) and ``insight.json`` (what that
recording cost); a run without them still gets every other section.
"""
import json
import time
from html import escape
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from . import report_sections as sec
from .rundir import Run, read_history, write_text

REPORT_FILE = "report.html"
NORMS_FILE = "norms.csv"
BOUNDARY_FILE = "boundary.safetensors"
INSIGHT_FILE = "insight.json"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f3f4f7;color:#1d1f24}
header{background:#1d2b45;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#c9d3e6}
main{max-width:1220px;margin:0 auto;padding:14px 20px 40px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);margin:14px 0;padding:14px 18px}
h2{font-size:17px;margin:2px 0 10px}h3{font-size:14px;margin:10px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#f6f8fb;border:1px solid #e1e5ee;border-radius:6px;padding:8px 14px;min-width:130px}
.card b{display:block;font-size:20px}.card span{color:#566}
.row{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #e6e8ee;padding:3px 10px;text-align:right}
th{background:#f6f8fb}td:first-child,th:first-child{text-align:left}
pre{background:#f6f8fb;border:1px solid #e1e5ee;border-radius:6px;padding:10px;font-size:12px;overflow:auto;max-height:420px}
.ct{font-size:13px;font-weight:600;fill:#1d1f24}.ax{font-size:11px;fill:#555}.lg{font-size:11px;fill:#333}
.note{color:#666;font-size:12.5px}.good{color:#1a7f37}.bad{color:#b42318}
.strip{display:flex;flex-wrap:wrap;gap:8px}.strip figure{margin:0;text-align:center;font-size:12px;color:#444}
.player{display:flex;gap:16px;align-items:center}.player input{width:260px}
"""

SCRIPT = """
(function(){var s=document.getElementById('frame-slider');
if(s){var frames=document.querySelectorAll('#boundary-player .frame'),label=document.getElementById('frame-label'),
play=document.getElementById('frame-play'),timer=null;
var show=function(i){frames.forEach(function(f,k){f.style.display=k==i?'inline':'none'});
label.textContent=frames[i].getAttribute('data-title');s.value=i;};
s.addEventListener('input',function(){show(+s.value)});
play.addEventListener('click',function(){if(timer){clearInterval(timer);timer=null;play.textContent='play';return;}
play.textContent='pause';timer=setInterval(function(){show((+s.value+1)%frames.length)},700);});
show(frames.length-1);}
document.body.setAttribute('data-report-ready','1');})();
"""


# ---------------------------------------------------------------------------- writing what training recorded
def save_training_records(directory: Path, norms: Any = None, snapshots: Any = None) -> List[Path]:
    """Write norms.csv, boundary.safetensors and insight.json for the report; returns the paths written.

    ``norms`` is a ParameterNorms callback after training, ``snapshots`` the
    train command's BoundarySnapshots (grid, frames, points) or None.
    """
    directory = Path(directory)
    written = []
    insight: Dict[str, Any] = {}
    if norms is not None and norms.records:
        written.append(Path(norms.to_csv(directory / NORMS_FILE)))
        insight["norms_seconds"] = norms.seconds
    if snapshots is not None and snapshots.frames:
        from ..io import save_tensors
        xx, yy, _ = snapshots.grid
        arrays = {"xx": np.asarray(xx, np.float32), "yy": np.asarray(yy, np.float32),
                  "frames": np.stack([np.asarray(z, np.float32).reshape(xx.shape) for _, z in snapshots.frames])}
        save_tensors(arrays, directory / BOUNDARY_FILE,
                     {"titles": json.dumps([t for t, _ in snapshots.frames])})
        written.append(directory / BOUNDARY_FILE)
    write_text(directory / INSIGHT_FILE, json.dumps(insight, indent=2) + "\n")
    written.append(directory / INSIGHT_FILE)
    return written


# ---------------------------------------------------------------------------- the page
def write_report(run_dir: Any) -> Path:
    """Build report.html in the run directory (atomically); returns its path."""
    start = time.perf_counter()
    run = Run(run_dir)
    history = read_history(run.dir / "history.csv")
    info = run.info
    data = sec.load_report_data(run)
    parts = [_header(run, history, data),
             sec.metrics_section(info, data, history),
             sec.curves_section(history, data),
             sec.confusion_section(info, data),
             sec.fit_section(info, data),
             sec.boundary_section(run.dir / BOUNDARY_FILE, data),
             sec.weights_section(data, info),
             sec.norms_section(run.dir / NORMS_FILE),
             sec.data_section(info, data),
             sec.timing_section(info, history, _read_json(run.dir / INSIGHT_FILE)),
             _config_section(run)]
    took = time.perf_counter() - start
    body = "".join(p for p in parts if p)
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>retrograd report: {escape(str(info.get('dataset', run.dir.name)))}</title>"
            f"<style>{CSS}</style></head><body>{body}"
            f"<footer class=\"note\" style=\"text-align:center;padding:0 0 20px\">written by retrograd "
            f"{escape(str(info.get('retrograd', '')))} in {took:.2f} s; self-contained: no scripts, fonts or "
            f"images from the network</footer><script>{SCRIPT}</script></body></html>\n")
    path = run.dir / REPORT_FILE
    write_text(path, page)
    return path


def run_report(run_dir: Any, out: Any = print) -> int:
    """The `retrograd report` command: write the page and say where it is."""
    path = write_report(run_dir)
    out(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB); open it in a browser")
    return 0


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}


def _header(run: Run, history: Dict[str, List[Optional[float]]], data: "sec.ReportData") -> str:
    info = run.info
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime((run.dir / "run.json").stat().st_mtime))
    arch = "-".join(str(w) for w in [info["n_inputs"], *run.config["model"].get("hidden", []), info["n_outputs"]])
    opt = run.config.get("optimizer", {}).get("name", "?")
    sub = (f"{escape(info['task'])} &middot; network {arch} {escape(str(run.config['model'].get('activation')))} "
           f"&middot; loss {escape(str(info.get('loss')))} &middot; optimizer {escape(str(opt))} &middot; "
           f"{escape(when)} &middot; {escape(str(run.dir))}")
    test = info.get("test", {})
    metric = "accuracy" if "accuracy" in test else "rmse"
    cards = [(f"{test.get(metric, float('nan')):.4g}", f"test {metric}")]
    base = data.baseline.get(metric) if data.baseline else None
    if base is not None:
        cards.append((f"{base:.4g}", "baseline (" + ("majority class" if metric == "accuracy" else "predict the mean")
                      + ")"))
    cards += [(f"{test.get('loss', float('nan')):.4g}", "test loss"), (str(info.get("epochs")), "epochs"),
              (f"{info.get('seconds', 0):.2f} s", "training time")]
    card_html = "".join(f'<div class="card"><b>{v}</b><span>{escape(k)}</span></div>' for v, k in cards)
    stop = escape(str(info.get("stop_reason") or ""))
    return (f"<header><h1>retrograd run: {escape(str(info.get('dataset')))}</h1><p>{sub}</p></header><main>"
            f"<section><div class=\"cards\">{card_html}</div><p class=\"note\">stopped: {stop}</p></section>")


def _config_section(run: Run) -> str:
    text = run.config_path.read_text(encoding="utf-8")
    return (f"<section><h2>Resolved configuration</h2><p class=\"note\">{escape(run.config_path.name)}: "
            "every key with the defaults filled in; <code>retrograd train "
            f"{escape(str(run.config_path))}</code> repeats the run.</p><pre>{escape(text)}</pre></section></main>")


__all__ = ["write_report", "run_report", "save_training_records"]
