"""report.html: the layer-norm callback's values, the page's pieces, and the page itself in headless Chromium (no errors, charts drawn)."""
import base64
import fcntl
import io
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import retrograd as rg
from retrograd.cli import main
from retrograd.cli import html_charts as hc
from retrograd.cli.report_sections import ReportData, baselines, confusion_section, weights_section
from retrograd.cli.rundir import Run
from retrograd.cli.dataset import reload_splits
from retrograd.training.parameter_norms import ParameterNorms, read_norms_csv

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)


# ---------------------------------------------------------------------------- the callback
class _Spy(rg.training.Callback):
    """Copies of the weights and gradients at each epoch end (runs after ParameterNorms)."""

    def __init__(self):
        self.weights, self.grads = [], []

    def on_train_begin(self, logs=None):
        self.weights.append({n: p.data.copy() for n, p in self.trainer.model.named_parameters()})

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append({n: p.data.copy() for n, p in self.trainer.model.named_parameters()})
        self.grads.append({n: p.grad.data.copy() for n, p in self.trainer.model.named_parameters()})


def _fit(callbacks, epochs=6, **kw):
    X, y = rg.data.xor()
    model = rg.nn.Sequential(rg.nn.Linear(2, 4), rg.nn.Tanh(), rg.nn.Linear(4, 1))
    opt = rg.optim.SGD(model.parameters(), lr=0.3, momentum=0.5)
    rg.fit(model, "mse", opt, (X, y), epochs=epochs, mode="minibatch", batch_size=2, quiet=True,
           callbacks=callbacks, **kw)
    return model


def test_parameter_norms_are_the_norms_of_the_weights_their_updates_and_last_gradients(tmp_path):
    norms, spy = ParameterNorms(), _Spy()
    _fit([norms, spy])
    rows = norms.records
    names = ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [r["parameter"] for r in rows[:4]] == names and len(rows) == 4 * 7
    for r in rows:
        e, n = r["epoch"], r["parameter"]
        w = spy.weights[e][n].astype(np.float64)
        assert r["weight_norm"] == pytest.approx(np.linalg.norm(w), rel=1e-6)
        if e == 0:
            assert np.isnan(r["grad_norm"]) and np.isnan(r["update_norm"])
            continue
        delta = spy.weights[e][n].astype(np.float64) - spy.weights[e - 1][n]
        assert r["update_norm"] == pytest.approx(np.linalg.norm(delta), rel=1e-5) and r["update_norm"] > 0
        assert r["grad_norm"] == pytest.approx(np.linalg.norm(spy.grads[e - 1][n]), rel=1e-6)
    assert rows[4]["shape"] == "2x4" and rows[5]["shape"] == "4"
    back = read_norms_csv(norms.to_csv(tmp_path / "norms.csv"))
    assert [(b["epoch"], b["parameter"]) for b in back] == [(r["epoch"], r["parameter"]) for r in rows]
    np.testing.assert_allclose([b["grad_norm"] for b in back], [r["grad_norm"] for r in rows])


def test_parameter_norms_every_k_epochs_keeps_the_last_and_survives_a_resume(tmp_path):
    norms = ParameterNorms(every=4)
    _fit([norms], epochs=10)
    assert sorted({r["epoch"] for r in norms.records}) == [0, 4, 8, 10]
    # a checkpointed run resumed with a fresh callback continues its rows
    ckpt = tmp_path / "run.ckpt"
    first = ParameterNorms()
    _fit([first], epochs=3, checkpoint=ckpt)
    again = ParameterNorms()
    _fit([again], epochs=5, checkpoint=ckpt, resume=ckpt)
    assert sorted({r["epoch"] for r in again.records}) == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="every must be a positive"):
        ParameterNorms(every=0)


# ---------------------------------------------------------------------------- pieces of the page
def test_png_encoder_round_trips_through_pillow():
    PIL = pytest.importorskip("PIL.Image")
    rgb = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    img = PIL.open(io.BytesIO(hc.png_bytes(rgb)))
    assert img.size == (5, 7)
    np.testing.assert_array_equal(np.asarray(img.convert("RGB")), rgb)


def test_baselines_are_the_majority_class_and_the_training_mean():
    info = {"task": "classification", "n_outputs": 3}
    y_tr, y_te = np.array([0, 1, 1, 1, 2, 2]), np.array([1, 1, 0, 2])
    b = baselines(info, y_tr, y_te)
    assert b["accuracy"] == 0.5
    freq = np.array([1, 3, 2]) / 6
    assert b["cross_entropy"] == pytest.approx(-np.mean(np.log(freq[y_te])))
    reg = baselines({"task": "regression", "n_outputs": 1}, np.array([[1.0], [3.0]]), np.array([[0.0], [4.0]]))
    assert reg["rmse"] == pytest.approx(2.0)
    binary = baselines({"task": "binary", "n_outputs": 1}, np.array([[1.], [1.], [0.]]), np.array([[0.], [1.]]))
    assert binary["accuracy"] == 0.5


def test_a_confusion_matrix_of_many_classes_is_capped_with_an_other_class():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 30, size=600)
    outputs = np.eye(30)[np.where(rng.random(600) < 0.8, y, rng.integers(0, 30, size=600))]
    html = confusion_section({"task": "classification", "n_outputs": 30}, ReportData(y_test=y, outputs=outputs))
    assert html.count("<rect") == 20 * 20 + 1 and ">other</text>" in html
    counts = [int(v) for v in re.findall(r'font-size="\d+" fill="#[0-9a-f]+">(\d+)</text>', html)]
    assert sum(counts) == 600                                 # every example still counted once


def test_first_layer_weights_of_28x28_images_are_tiles_of_each_units_weights():
    Image = pytest.importorskip("PIL.Image")
    model = rg.nn.Sequential(rg.nn.Linear(784, 128), rg.nn.ReLU(), rg.nn.Linear(128, 10))
    html = weights_section(ReportData(model=model), {"image_shape": [28, 28]})
    assert "the first 64 of 128 units" in html
    uri = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri))).convert("RGB")).astype(int)
    assert img.shape == (4 * 30 + 2, 16 * 30 + 2, 3)          # 64 tiles of 28x28, 16 a row, 2-pixel gaps
    W = model[0].weight.data
    for unit in (0, 17, 63):
        r, c = divmod(unit, 16)
        tile = img[2 + 30 * r:2 + 30 * r + 28, 2 + 30 * c:2 + 30 * c + 28]
        w = W[:, unit].reshape(28, 28)
        red = tile[..., 0] - tile[..., 2]                     # red for positive weights, blue for negative
        strong = np.abs(w) > 0.3 * np.abs(w).max()
        assert np.all(np.sign(red[strong]) == np.sign(w[strong]))


def test_report_command_errors_and_a_run_without_records(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    run = tmp_path / "xor"
    assert main(["train", "--data", "xor", "--epochs", "30", "--out", str(run), "--quiet", "--no-plots",
                 "--optimizer", "lm", "--report"]) == 0
    page = (run / "report.html").read_text()
    assert "No gradients were recorded" in page and "Relative update" in page    # LM leaves no .grad
    for name in ("norms.csv", "insight.json", "boundary.safetensors"):
        (run / name).unlink()                                 # a run from before the report existed
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "Training curves" in page and "layer by layer" not in page and "Decision boundary" not in page


def test_a_regression_report_has_the_mean_baseline_and_a_prediction_scatter(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    rg.data.save_csv(tmp_path / "reg.csv", X, X[:, 0] - 2 * X[:, 1], ["a", "b"], target="t")
    run = tmp_path / "reg"
    assert main(["train", "--data", "csv", "--path", str(tmp_path / "reg.csv"), "--target", "t", "--epochs", "20",
                 "--out", str(run), "--quiet", "--no-plots", "--report"]) == 0
    page = (run / "report.html").read_text()
    loaded = Run(run)
    _, y_tr, _, y_te, _ = reload_splits(loaded.config, loaded.info)
    y_tr, y_te = np.asarray(y_tr, np.float64), np.asarray(y_te, np.float64)
    expected = np.sqrt(np.mean((y_te - y_tr.mean()) ** 2))
    assert f"<td>{expected:.5g}</td>" in page                 # the predict-the-mean RMSE
    assert "Predictions against targets" in page and page.count("<circle") >= len(y_te)
    # the page is drawn without matplotlib: the command never imports it
    code = ("import sys; from retrograd.cli import main; assert main(['report', sys.argv[1]]) == 0; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'")
    done = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------------------- the page in Chromium
class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4): stdlib only."""

    def __init__(self, timeout=60.0):
        self.profile = tempfile.mkdtemp(prefix="rg-chromium-")
        cmd_r, self._cmd_w = os.pipe()        # we write commands, Chromium reads fd 3
        self._evt_r, evt_w = os.pipe()        # Chromium writes fd 4, we read
        for fd in (cmd_r, evt_w):             # move them above 9, clear of 3 and 4, for the shell
            high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            cmd_r, evt_w = (high, evt_w) if fd == cmd_r else (cmd_r, high)

        # Chromium reads fd 3 and writes fd 4; the shell puts the pipe ends there (no Python runs
        # between fork and exec, which matters with the library's worker threads alive)
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{cmd_r} 4>&{evt_w} {cmd_r}<&- {evt_w}>&-', CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={self.profile}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(cmd_r, evt_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(evt_w)
        self.deadline = time.monotonic() + timeout
        self.buffer, self.events, self.next_id, self.session = b"", [], 0, None

    def _send(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def _wait(self, match):
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                msg = json.loads(raw)
                if match(msg):
                    return msg
                self.events.append(msg)
            left = self.deadline - time.monotonic()
            ready, _, _ = select.select([self._evt_r], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._evt_r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buffer += chunk

    def call(self, method, params=None, session=True):
        i = self._send(method, params, session)
        reply = self._wait(lambda m: m.get("id") == i)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def open(self, url, width=1280, height=900):
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(domain + ".enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.call("Page.navigate", {"url": url})
        self._wait(lambda m: m.get("method") == "Page.loadEventFired")

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, width, height):
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                    "clip": {"x": 0, "y": 0, "width": width, "height": height,
                                                             "scale": 1}})
        return base64.b64decode(shot["data"])

    def problems(self):
        """Console errors, uncaught exceptions and network requests that were not file: or data: URLs."""
        out = []
        for e in self.events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails']}")
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
                out.append(f"console.{p['type']}: {p.get('args')}")
            elif method == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif method == "Network.requestWillBeSent":
                url = p["request"]["url"]
                if not url.startswith(("file:", "data:")):
                    out.append(f"network request: {url}")
            elif method == "Network.loadingFailed":
                out.append(f"failed load: {p.get('errorText')}")
        return out

    def close(self):
        try:
            self._send("Browser.close", session=False)
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._cmd_w)
            os.close(self._evt_r)
            shutil.rmtree(self.profile, ignore_errors=True)


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")

CHART_RECTS = """JSON.stringify([...document.querySelectorAll('.chart, img.weights')].map(e => {
  const r = e.getBoundingClientRect();
  return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height,
          label: e.getAttribute('aria-label') || e.getAttribute('alt') || e.getAttribute('class')};
}).filter(r => r.w > 0 && r.h > 0))"""


def _colourful(pixels):
    """Fraction of pixels with a clear hue (lines, bars, cells, weights), not white/grey background or text."""
    p = pixels.astype(int)
    return float(np.mean(p.max(axis=2) - p.min(axis=2) > 40))


def _render(page, screenshot_path):
    Image = pytest.importorskip("PIL.Image")
    browser = Chromium()
    try:
        browser.open(page.resolve().as_uri())
        width, height = browser.evaluate("[document.documentElement.scrollWidth, "
                                         "document.documentElement.scrollHeight]")
        ready = browser.evaluate("document.body.getAttribute('data-report-ready')")
        rects = json.loads(browser.evaluate(CHART_RECTS))
        slider = None
        if browser.evaluate("!!document.getElementById('frame-slider')"):
            before = browser.evaluate("document.getElementById('frame-label').textContent")
            browser.evaluate("(s => {s.value = 0; s.dispatchEvent(new Event('input'));})"
                             "(document.getElementById('frame-slider'))")
            after = browser.evaluate("document.getElementById('frame-label').textContent")
            shown = browser.evaluate("[...document.querySelectorAll('#boundary-player .frame')]"
                                     ".map(f => f.style.display)")
            browser.evaluate("(s => {s.value = s.max; s.dispatchEvent(new Event('input'));})"
                             "(document.getElementById('frame-slider'))")
            slider = (before, after, shown)
        png = browser.screenshot(width, height)
        problems = browser.problems()
    finally:
        browser.close()
    Path(screenshot_path).write_bytes(png)
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return {"size": (width, height), "ready": ready, "rects": rects, "shot": shot, "problems": problems,
            "slider": slider}


def _check_charts(result, min_charts):
    shot = result["shot"]
    assert shot.shape[0] == result["size"][1] and shot.shape[1] >= 1000
    assert result["problems"] == []
    assert result["ready"] == "1"                             # the page's script ran to its end
    assert len(result["rects"]) >= min_charts
    for r in result["rects"]:
        x, y, w, h = (int(round(r[k])) for k in ("x", "y", "w", "h"))
        region = shot[y:y + h, x:x + w]
        assert region.size, r
        # every chart shows drawn data: lines, bars, cells or image pixels in colour
        assert _colourful(region) > 0.003, f"chart {r['label']!r} at {(x, y, w, h)} looks blank"


def _self_contained(page):
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", text)    # only data: URIs and #fragments
    assert "url(http" not in text and "@import" not in text and "<link" not in text
    return text


@needs_chromium
def test_digits_report_renders_with_its_charts_and_no_errors(tmp_path):
    pytest.importorskip("sklearn")                            # the digits data set
    run = tmp_path / "digits"
    assert main(["train", "--out", str(run), "--quiet", "--no-plots", "--report"]) == 0
    page = run / "report.html"
    text = _self_contained(page)
    for heading in ("Final metrics", "Training curves", "Confusion matrix", "First-layer weights",
                    "layer by layer", "Data", "Timing", "Resolved configuration"):
        assert heading in text
    result = _render(page, tmp_path / "digits.png")
    _check_charts(result, min_charts=9)
    labels = [r["label"] for r in result["rects"]]
    assert "Confusion matrix (test)" in labels and "first-layer weights" in labels
    assert any(lab.startswith("Gradient norm") for lab in labels)
    weights = next(r for r in result["rects"] if r["label"] == "first-layer weights")
    assert weights["w"] >= 400                                  # 32 tiles of 8x8, drawn large enough to see


@needs_chromium
def test_two_spirals_report_shows_the_boundary_forming(tmp_path):
    run = tmp_path / "spirals"
    assert main(["train", "--data", "two_spirals", "--epochs", "300", "--out", str(run), "--quiet",
                 "--no-plots", "--set", "train.snapshots=6"]) == 0
    assert (run / "boundary.safetensors").exists() and (run / "norms.csv").exists()
    assert main(["report", str(run)]) == 0
    page = run / "report.html"
    _self_contained(page)
    result = _render(page, tmp_path / "spirals.png")
    _check_charts(result, min_charts=8)
    frames = [r for r in result["rects"] if r["w"] == r["h"] and r["w"] in (170, 360)]
    assert len(frames) >= 5                                     # the strip and the player's visible frame
    for r in frames:
        x, y, w, h = (int(r[k]) for k in ("x", "y", "w", "h"))
        assert _colourful(result["shot"][y:y + h, x:x + w]) > 0.2     # a coloured probability map
    before, after, shown = result["slider"]
    assert before.startswith("epoch") and after != before and after.startswith("epoch 1")
    assert shown[0] == "inline" and shown.count("none") == len(shown) - 1
