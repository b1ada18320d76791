"""The CLI on ordinary tabular CSVs: the task rule, regression done right, text class labels."""
import json

import numpy as np
import pytest
from cli_helpers import diabetes_like, labelled_blobs, write_csv

import retrograd as rg

MAX_AUTO_CLASSES = 20      # retrograd.cli.tasks.MAX_AUTO_CLASSES, checked below

# (targets, task the rule must choose, a fragment of the reason)
RULE = [
    (np.arange(442) % 214, "regression", "214 distinct whole numbers in 442 rows"),
    (np.arange(1000) % (MAX_AUTO_CLASSES + 1), "regression", f"more than {MAX_AUTO_CLASSES}"),
    (np.arange(15) % 10, "regression", "10 distinct whole numbers in 15 rows"),       # more than half the rows
    (np.arange(1000) % MAX_AUTO_CLASSES, "classification", f"{MAX_AUTO_CLASSES} distinct whole numbers"),
    (np.array([0, 1, 1]), "classification", "2 distinct whole numbers in 3 rows"),
    (np.array([-1, 1, 1, -1, 1, -1]), "classification", "2 distinct"),
    (np.array(["virginica", "setosa", "setosa"]), "classification", "2 text labels (setosa, virginica)"),
    (np.array([0.5, 1.5, 2.0]), "regression", "non-integer values (e.g. 0.5)"),
    (np.array([[0.0], [1.0], [1.0], [0.0]]), "binary", "1 target column(s) of 0/1"),
    (np.array([[0, 1], [1, 0]]), "binary", "2 target column(s) of 0/1"),
    (np.array([[0.2, 1.0], [1.0, 3.0]]), "regression", "2 target columns"),
]


@pytest.mark.parametrize("y,task,reason", RULE, ids=[f"{r[1]}-{i}" for i, r in enumerate(RULE)])
def test_task_rule(y, task, reason):
    from retrograd.cli.tasks import MAX_AUTO_CLASSES as limit, detect_task
    assert limit == MAX_AUTO_CLASSES
    choice = detect_task(y)
    assert choice.task == task and reason in choice.reason, choice


def test_requested_task_overrides_and_is_checked():
    from retrograd.cli.tasks import detect_task
    assert detect_task(np.arange(442) % 214, "classification").task == "classification"
    assert detect_task(np.array([0, 1, 2]), "regression").task == "regression"
    with pytest.raises(rg.data.DataError, match="needs numeric targets"):
        detect_task(np.array(["a", "b"]), "regression")
    with pytest.raises(rg.data.DataError, match="needs two classes"):
        detect_task(np.array(["a", "b", "c"]), "binary")


@pytest.fixture
def diabetes_csv(tmp_path):
    """scikit-learn's diabetes data (unscaled, integer targets) as a user would export it."""
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_diabetes(scaled=False)
    write_csv(tmp_path / "diabetes.csv", list(d.feature_names) + ["target"],
              [[repr(float(v)) for v in x] + [int(t)] for x, t in zip(d.data, d.target)])
    return d


def test_diabetes_is_regression_with_a_mean_baseline(retrograd_cli, tmp_path, diabetes_csv):
    """The issue's case: 214 distinct integer targets were trained as 347 classes (accuracy 0.0077)."""
    r = retrograd_cli("train", "--data", "csv", "--path", "diabetes.csv", "--target", "target", "--epochs", "60",
                      "--out", "diab", "-q", "--no-plots")
    assert r.code == 0, r.err
    assert "task regression: the target holds 214 distinct whole numbers in 442 rows" in r.out
    info = json.loads((tmp_path / "diab" / "run.json").read_text())
    assert info["task"] == "regression" and info["loss"] == "mse" and info["n_outputs"] == 1
    assert "214 distinct whole numbers" in info["task_reason"]
    # split without stratifying: the test rows are those of the plain seeded split
    X, y = rg.data.load_csv(tmp_path / "diabetes.csv", target="target")
    plain = rg.data.train_test_split(X, y, test_size=0.2, seed=0, stratify=False)
    evaluated = retrograd_cli("evaluate", "diab", "--json")
    assert evaluated.code == 0, evaluated.err
    scored = json.loads(evaluated.out)
    assert scored["n"] == len(plain.y_test)
    # targets standardised on the training part, predictions and rmse back in the data's units
    assert info["target_scaling"]["mean"][0] == pytest.approx(plain.y_train.mean(), rel=1e-6)
    assert info["target_scaling"]["std"][0] == pytest.approx(plain.y_train.std(), rel=1e-6)
    assert info["test"]["baseline_rmse"] == pytest.approx(np.sqrt(np.mean((plain.y_test - plain.y_train.mean()) ** 2)))
    assert info["test"]["rmse"] < 0.85 * info["test"]["baseline_rmse"]
    assert scored["rmse"] == pytest.approx(info["test"]["rmse"], rel=1e-5)
    assert scored["loss"] == pytest.approx(info["test"]["loss"], rel=1e-5)
    assert "predicting the training mean" in r.out and "does no better" not in r.err
    history = np.genfromtxt(tmp_path / "diab" / "history.csv", delimiter=",", names=True)
    assert history["loss"][0] < 3                        # mse on standardised targets, not on 150 +- 77
    assert history["rmse"][-1] == pytest.approx(info["train"]["rmse"], rel=1e-4)    # in the data's units
    write_csv(tmp_path / "rows.csv", ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"],
              [[repr(float(v)) for v in x] for x in plain.X_test])
    predicted = retrograd_cli("predict", "diab", "rows.csv")
    values = np.array([float(v) for v in predicted.out.splitlines()[1:]])
    assert np.sqrt(np.mean((values - plain.y_test) ** 2)) == pytest.approx(info["test"]["rmse"], rel=1e-4)


def test_task_override_from_flag_and_config(retrograd_cli, tmp_path):
    X, y = diabetes_like()
    write_csv(tmp_path / "d.csv", [f"f{j}" for j in range(6)] + ["target"], [[*x, t] for x, t in zip(X, y)])
    r = retrograd_cli("train", "--data", "csv", "--path", "d.csv", "--task", "classification", "--epochs", "1",
                      "--out", "c", "-q", "--no-plots")
    assert r.code == 0, r.err
    assert "task classification: set by [data] task" in r.out
    info = json.loads((tmp_path / "c" / "run.json").read_text())
    assert info["task"] == "classification" and info["n_outputs"] == len(np.unique(y))
    (tmp_path / "c.toml").write_text('[data]\nname = "csv"\npath = "d.csv"\ntask = "regression"\n'
                                     '[train]\nepochs = 1\n[output]\ndir = "r"\nplots = false\n')
    assert retrograd_cli("train", "c.toml", "-q").code == 0
    assert json.loads((tmp_path / "r" / "run.json").read_text())["task"] == "regression"


def test_warns_when_worse_than_predicting_the_mean(retrograd_cli, tmp_path):
    rng = np.random.default_rng(0)          # targets unrelated to the features: nothing to learn
    write_csv(tmp_path / "d.csv", ["f0", "f1", "target"], [[*rng.normal(size=2), rng.integers(0, 300)]
                                                            for _ in range(300)])
    r = retrograd_cli("train", "--data", "csv", "--path", "d.csv", "--optimizer", "sgd", "--lr", "1e-9",
                      "--epochs", "1", "--out", "w", "-q", "--no-plots")
    info = json.loads((tmp_path / "w" / "run.json").read_text())
    assert info["test"]["rmse"] >= info["test"]["baseline_rmse"]
    assert r.code == 0 and "warning: the model does no better than predicting the training mean" in r.err


def test_text_class_labels_round_trip(retrograd_cli, tmp_path):
    X, labels = labelled_blobs(150, 0)
    write_csv(tmp_path / "flowers.csv", ["a", "b", "c", "species"], [[*x, s] for x, s in zip(X, labels)])
    r = retrograd_cli("train", "--data", "csv", "--path", "flowers.csv", "--target", "species", "--epochs", "40",
                      "--out", "run", "-q", "--no-plots")
    assert r.code == 0, r.err
    assert "task classification: the target holds 3 text labels (setosa, versicolor, virginica)" in r.out
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["classes"] == ["setosa", "versicolor", "virginica"] and info["test"]["accuracy"] >= 0.95
    predicted = retrograd_cli("predict", "run", "flowers.csv", "-o", "pred.csv")
    assert predicted.code == 0, predicted.err
    rows = (tmp_path / "pred.csv").read_text().splitlines()
    assert rows[0] == "prediction,p_setosa,p_versicolor,p_virginica"
    written = [row.split(",")[0] for row in rows[1:]]
    assert set(written) == {"setosa", "versicolor", "virginica"}
    assert np.mean(np.array(written) == np.array(labels)) >= 0.95
    scored = retrograd_cli("evaluate", "run", "--data", "flowers.csv", "--json")
    assert scored.code == 0, scored.err
    assert json.loads(scored.out)["accuracy"] >= 0.95
    write_csv(tmp_path / "odd.csv", ["a", "b", "c", "species"], [[0, 0, 0, "setosa"], [1, 1, 1, "rose"]])
    odd = retrograd_cli("evaluate", "run", "--data", "odd.csv")
    assert odd.code == 1 and "odd.csv: labels ['rose'] are not among the model's classes" in odd.err


def test_signed_integer_labels_are_classes_and_written_back(retrograd_cli, tmp_path):
    X, labels = labelled_blobs(120, 1, labels=(-1, 1, 7))
    write_csv(tmp_path / "s.csv", ["a", "b", "c", "y"], [[*x, s] for x, s in zip(X, labels)])
    r = retrograd_cli("train", "--data", "csv", "--path", "s.csv", "--target", "y", "--epochs", "40",
                      "--out", "run", "-q", "--no-plots")
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "run" / "run.json").read_text())["classes"] == [-1, 1, 7]
    predicted = retrograd_cli("predict", "run", "s.csv")
    written = [int(row.split(",")[0]) for row in predicted.out.splitlines()[1:]]
    assert predicted.out.startswith("prediction,p_-1,p_1,p_7\n")
    assert np.mean(np.array(written) == np.array(labels)) >= 0.95


def test_confusion_matrix_skipped_with_a_note_when_unreadable(retrograd_cli, tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    write_csv(tmp_path / "many.csv", ["a", "b", "k"], [[*rng.normal(size=2), k % 60] for k in range(600)])
    r = retrograd_cli("train", "--data", "csv", "--path", "many.csv", "--target", "k", "--task", "classification",
                      "--epochs", "1", "--out", "run", "-q")
    assert r.code == 0, r.err
    assert "(no confusion.png: 60 classes are more than the 50 a confusion matrix can show readably)" in r.out
    assert not (tmp_path / "run" / "confusion.png").exists() and (tmp_path / "run" / "history.png").exists()


# (file text, the error's line and column, a fragment) for files with a text target column
TEXT_TARGET_ERRORS = [
    ("a,b,kind\n1,2,cat\n1,x,dog\n", 3, '2 ("b")', "non-numeric cell 'x'"),
    ("a,b,kind\n1,2,cat\n1,2,NA\n", 3, '3 ("kind")', "missing class label 'NA'"),
    ("a,b,kind\n1,2,cat\n1,2\n", 3, None, "ragged row"),
    ("a,b,kind\n1,inf,cat\n", 2, '2 ("b")', "not a finite number"),
]


def test_load_csv_reads_a_text_target(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["a", "kind", "b"], [[1, " cat ", 2], [3, "dog", 4.5]])
    X, y, names = rg.data.load_csv(path, target="kind", return_names=True)
    assert y.tolist() == ["cat", "dog"] and names == ["a", "b"]
    np.testing.assert_array_equal(X, [[1, 2], [3, 4.5]])
    (tmp_path / "n.csv").write_text("1,cat,2\n3,dog,4\n")
    X, y = rg.data.load_csv(tmp_path / "n.csv", target=-2, header=False)
    assert y.tolist() == ["cat", "dog"] and X.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("text,line,column,fragment", TEXT_TARGET_ERRORS)
def test_text_target_files_still_name_line_and_column(tmp_path, text, line, column, fragment):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(rg.data.DataError) as info:
        rg.data.load_csv(tmp_path / "bad.csv", target="kind")
    message = str(info.value)
    assert fragment in message and f"line {line}" in message and info.value.line == line
    if column is not None:
        assert f"column {column}" in message
