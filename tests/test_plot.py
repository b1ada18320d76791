"""Every plot renders a PNG headless (Agg) from plain data; bad inputs raise clear errors."""
import numpy as np
import pytest

pytest.importorskip("matplotlib")

from retrograd import plot  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_png(path):
    return path.exists() and path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 1000


HISTORY = {"loss": [1.0, 0.5, 0.1, 0.004], "val_loss": [1.1, None, 0.2, 0.1],
           "accuracy": [0.3, 0.6, 0.9, 1.0], "val_accuracy": [0.2, None, 0.8, 0.9],
           "lr": [0.1, 0.05, 0.025, 0.0125], "time": [0.1, 0.2, 0.3, 0.4]}


def spiral_snapshots():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(float)
    grid = plot.decision_grid(X, resolution=30)
    snaps = [(f"epoch {e}", 1 / (1 + np.exp(-e * grid[2][:, 0] * grid[2][:, 1]))) for e in (0, 1, 5)]
    return X, y, grid, snaps


CASES = [
    ("history", lambda p: plot.plot_history(HISTORY, p)),
    ("lr", lambda p: plot.plot_lr(HISTORY, p)),
    ("boundary", lambda p: plot.plot_decision_boundary(spiral_snapshots()[3], *spiral_snapshots()[:2], p,
                                                       grid=spiral_snapshots()[2])),
    ("confusion", lambda p: plot.plot_confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1], p,
                                                       class_names=["a", "b", "c"])),
    ("weights", lambda p: plot.plot_first_layer_weights(np.random.default_rng(0).normal(size=(64, 12)), p, (8, 8))),
    ("errors", lambda p: plot.plot_error_histogram(np.random.default_rng(0).normal(size=200), p)),
    ("regression_1d", lambda p: plot.plot_regression_fit(np.linspace(0, 1, 20), np.linspace(0, 1, 20) ** 2,
                                                         np.linspace(0, 1, 20), p)),
    ("reconstructions", lambda p: plot.plot_reconstructions(np.random.default_rng(0).random((12, 64)),
                                                            np.random.default_rng(1).random((12, 64)), p, (8, 8))),
    ("regression_nd", lambda p: plot.plot_regression_fit(None, np.arange(10.0), np.arange(10.0) + 0.1, p)),
]


@pytest.mark.parametrize("name,draw", CASES, ids=[c[0] for c in CASES])
def test_plot_writes_png(tmp_path, name, draw):
    path = tmp_path / "sub" / f"{name}.png"
    returned = draw(path)
    assert is_png(path) and str(returned) == str(path)
    assert not [f for f in path.parent.iterdir() if f.name.startswith(".")]   # no temp file left


def test_decision_boundary_gif(tmp_path):
    pytest.importorskip("PIL")
    X, y, grid, snaps = spiral_snapshots()
    plot.plot_decision_boundary(snaps, X, y, tmp_path / "b.png", grid=grid, gif_path=tmp_path / "b.gif")
    assert (tmp_path / "b.gif").read_bytes()[:6] in (b"GIF89a", b"GIF87a")


def test_confusion_matrix_counts():
    C = plot.confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1])
    np.testing.assert_array_equal(C, [[1, 0, 0], [0, 1, 1], [0, 0, 2]])


BAD = [
    (lambda p: plot.plot_history({"time": [1]}, p), "nothing to plot"),
    (lambda p: plot.plot_lr({"loss": [1]}, p), "no 'lr' values"),
    (lambda p: plot.plot_first_layer_weights(np.zeros((10, 3)), p, (8, 8)), r"weight shape \(10, 3\)"),
    (lambda p: plot.plot_decision_boundary([("e", np.zeros(5))], np.zeros((4, 2)), np.zeros(4), p), "has 5 values"),
    (lambda p: plot.decision_grid(np.zeros((4, 3))), r"shape \(n, 2\)"),
]


@pytest.mark.parametrize("draw,fragment", BAD)
def test_plot_input_errors(tmp_path, draw, fragment):
    with pytest.raises(ValueError, match=fragment):
        draw(tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def png_size(path):
    """(width, height) in pixels from the PNG header."""
    header = path.read_bytes()[16:24]
    return int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")


def test_confusion_matrix_size_is_capped(tmp_path):
    """Many classes: the figure stays at most 12 inches (1200 px at 100 dpi) and no cell is annotated."""
    rng = np.random.default_rng(0)
    n = 120
    y = rng.integers(0, n, size=3000)
    path = plot.plot_confusion_matrix(y, (y + rng.integers(0, 2, size=3000)) % n, tmp_path / "c.png",
                                      class_names=[f"class {k}" for k in range(n)])
    width, height = png_size(path)
    assert is_png(path) and width <= 1200 and height <= 1200
    small = plot.plot_confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1], tmp_path / "s.png")
    assert png_size(small)[0] <= 400                         # a 3-class matrix keeps its small figure


def test_scatter_plots_draw_a_bounded_number_of_points(tmp_path, monkeypatch):
    """200,000 points: the regression and decision-boundary figures draw at most MAX_POINTS of them."""
    from matplotlib.axes import Axes
    drawn = []
    original = Axes.scatter

    def counting_scatter(self, x, y, *args, **kwargs):
        drawn.append(np.size(x))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(Axes, "scatter", counting_scatter)
    rng = np.random.default_rng(0)
    y = rng.normal(size=200_000)
    plot.plot_regression_fit(None, y, y + rng.normal(scale=0.1, size=y.size), tmp_path / "r.png")
    plot.plot_regression_fit(y, y, y, tmp_path / "r1.png")
    X = rng.normal(size=(200_000, 2))
    grid = plot.decision_grid(X, resolution=20)
    plot.plot_decision_boundary([("e", grid[2][:, 0])], X, (X[:, 0] > 0).astype(float), tmp_path / "b.png",
                                grid=grid)
    assert len(drawn) == 3 and max(drawn) == plot.MAX_POINTS
