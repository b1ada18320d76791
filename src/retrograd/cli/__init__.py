"""The `retrograd` command line: argument parsing, dispatch to one module per subcommand, exit codes.

Exit status: 0 success, 1 failure (bad data file, training or check failed), 2 usage or
configuration error. Errors go to stderr as one message, without a traceback (set
RETROGRAD_DEBUG=1 to see one).
"""
import argparse
import os
import sys

from .. import __version__


def _add_config_flags(p):
    """Flags shared by `train` and `gradcheck`: each overrides one key of the config file."""
    p.add_argument("config", nargs="?", help="TOML or JSON config file (see docs/cli.md); default: built-in")
    g = p.add_argument_group("overrides (take precedence over the config file)")
    g.add_argument("--data", dest="data.name", metavar="NAME", help="dataset: digits, iris, wine, breast_cancer, "
                   "mnist1d, fashion_mnist, xor, parity, encoder, two_spirals, symmetry, csv, npz")
    g.add_argument("--path", dest="data.path", metavar="FILE", help="data file (csv/npz) or folder (fashion_mnist)")
    g.add_argument("--test-path", dest="data.test_path", metavar="FILE")
    g.add_argument("--target", dest="data.target", metavar="COLUMN", help="target column of a CSV/TSV")
    g.add_argument("--task", dest="data.task", metavar="TASK", help="classification, binary or regression "
                   "(default auto: decided from the target, see docs/cli.md)")
    g.add_argument("--hidden", dest="model.hidden", metavar="N,N", help="hidden widths, e.g. 64,32 ('' for none)")
    g.add_argument("--activation", dest="model.activation", metavar="NAME")
    g.add_argument("--loss", dest="loss.name", metavar="NAME")
    g.add_argument("--optimizer", dest="optimizer.name", metavar="NAME")
    g.add_argument("--lr", dest="optimizer.lr", type=float, metavar="X")
    g.add_argument("--epochs", dest="train.epochs", type=int, metavar="N")
    g.add_argument("--mode", dest="train.mode", metavar="MODE", help="online, batch or minibatch")
    g.add_argument("--batch-size", dest="train.batch_size", type=int, metavar="N")
    g.add_argument("--seed", dest="train.seed", type=int, metavar="N")
    g.add_argument("--precision", dest="train.precision", metavar="P",
                   help="float32 (default), float16 or bfloat16: mixed precision (docs/precision.md)")
    g.add_argument("--device", dest="train.device", metavar="DEVICE", help="cpu or cuda (GPU, needs retrograd[gpu])")
    g.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="any config key, value in TOML syntax, e.g. --set optimizer.momentum=0.9 (repeatable)")


def _add_demo(sub):
    p = sub.add_parser("demo", help="train a 2-2-1 sigmoid network on XOR by backprop and print the loss")
    p.add_argument("--epochs", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)

    def run(args, parser):
        from .demo import run_demo
        return run_demo(epochs=args.epochs, seed=args.seed)
    p.set_defaults(handler=run)


def _add_train(sub):
    p = sub.add_parser("train", help="train a network from flags or a config file; writes a run directory",
                       description="Train a network. With no arguments: a digits MLP (XOR without scikit-learn).")
    _add_config_flags(p)
    p.add_argument("--out", dest="output.dir", metavar="DIR", help="run directory (default runs/NAME-TIME)")
    p.add_argument("--log-every", dest="output.log_every", type=int, metavar="N",
                   help="without a terminal, print progress every N epochs (default: about 50 lines a run)")
    p.add_argument("--no-plots", action="store_true", help="do not draw figures")
    p.add_argument("--quiet", "-q", action="store_true", help="no per-epoch progress on stderr")
    p.add_argument("--report", action="store_true", help="also write report.html (see `retrograd report`)")

    def run(args, parser):
        from .train import run_train
        return run_train(args.config, overrides_from(args, parser), quiet=args.quiet, report=args.report)
    p.set_defaults(handler=run)


def _add_evaluate(sub):
    p = sub.add_parser("evaluate", help="score a trained run on its test split or on a data file")
    p.add_argument("run", help="run directory written by `retrograd train`")
    p.add_argument("--data", metavar="FILE", help="CSV/TSV/NPZ with the target column (default: the run's test split)")
    p.add_argument("--target", metavar="COLUMN")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    def run(args, parser):
        from .evaluate import run_evaluate
        return run_evaluate(args.run, args.data, args.target, as_json=args.json)
    p.set_defaults(handler=run)


def _add_predict(sub):
    p = sub.add_parser("predict", help="predict each row of a CSV of features; writes CSV")
    p.add_argument("run", help="run directory")
    p.add_argument("input", help="CSV/TSV with one column per feature (a header naming them)")
    p.add_argument("-o", "--output", metavar="FILE", help="output CSV (default: stdout)")
    p.add_argument("--no-header", action="store_true", help="the input has no header row")

    def run(args, parser):
        from .evaluate import run_predict
        return run_predict(args.run, args.input, args.output, header=not args.no_header)
    p.set_defaults(handler=run)


def _add_plot(sub):
    p = sub.add_parser("plot", help="draw a run directory's figures (curves, confusion matrix, weights, ...)")
    p.add_argument("run", help="run directory")

    def run(args, parser):
        from .plot_cmd import run_plot
        return run_plot(args.run)
    p.set_defaults(handler=run)


def _add_report(sub):
    p = sub.add_parser("report", help="write a self-contained report.html for a run directory")
    p.add_argument("run", help="run directory")

    def run(args, parser):
        from .report_html import run_report
        return run_report(args.run)
    p.set_defaults(handler=run)


def _add_export(sub):
    p = sub.add_parser("export", help="write a trained run's model as ONNX (raw features in, probabilities out)")
    p.add_argument("run", help="run directory written by `retrograd train`")
    p.add_argument("--format", default="onnx", choices=("onnx",), help="file format (default onnx)")
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default RUN/model.onnx)")
    p.add_argument("--opset", type=int, metavar="N", help="ONNX opset (default 17)")
    p.add_argument("--no-scaling", action="store_true", help="leave the input scaling out of the graph")
    p.add_argument("--logits", action="store_true", help="no softmax/sigmoid on the output")

    def run(args, parser):
        from .export_cmd import run_export
        return run_export(args.run, args.format, args.output, args.opset, scaling=not args.no_scaling,
                          probabilities=not args.logits)
    p.set_defaults(handler=run)


def _add_gradcheck(sub):
    p = sub.add_parser("gradcheck", help="check a configured model's gradients against finite differences")
    _add_config_flags(p)
    p.add_argument("--examples", type=int, default=4, help="training examples in the checked loss (default 4)")
    p.add_argument("--order", type=int, default=1, choices=(1, 2), help="1: gradients; 2: also Hessian-vector products")

    def run(args, parser):
        from .gradcheck_cmd import run_gradcheck
        return run_gradcheck(args.config, overrides_from(args, parser), examples=args.examples, order=args.order)
    p.set_defaults(handler=run)


# One function per subcommand: it adds the subparser and sets ``handler(args, parser) -> exit status``
# (import the command's module inside the handler, so `retrograd --help` stays fast). A new
# subcommand is one more function here. Subcommands that read a run directory name their
# positional argument ``run``; tests/cli/test_run_dirs.py runs each of them on damaged run directories.
SUBCOMMANDS = [_add_demo, _add_train, _add_evaluate, _add_predict, _add_plot, _add_report, _add_export,
               _add_gradcheck]


def build_parser():
    """The `retrograd` argument parser with every subcommand of SUBCOMMANDS."""
    parser = argparse.ArgumentParser(prog="retrograd", description="Train neural networks by backpropagation.")
    parser.add_argument("--version", action="version", version=f"retrograd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _parse_value(text):
    """A --set value in TOML syntax (numbers, true/false, [lists], "strings"); bare words are strings."""
    from .config import _tomllib
    try:
        return _tomllib().loads(f"v = {text}")["v"]
    except Exception:
        return text


def overrides_from(args, parser):
    """The nested override dict from dotted flag destinations and --set pairs."""
    from .config import ConfigError
    overrides = {}
    for dest, value in vars(args).items():
        if "." in dest and value is not None:
            section, key = dest.split(".", 1)
            if dest == "model.hidden":
                try:
                    value = [int(v) for v in value.split(",") if v.strip()]
                except ValueError:
                    raise ConfigError(f"--hidden {value!r}: give comma-separated positive integers, e.g. 64,32") from None
            overrides.setdefault(section, {})[key] = value
    for item in getattr(args, "set", []):
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(f"--set {item!r}: use SECTION.KEY=VALUE, e.g. --set optimizer.momentum=0.9")
        dotted, text = item.split("=", 1)
        section, key = dotted.strip().split(".", 1)
        overrides.setdefault(section, {})[key] = _parse_value(text.strip())
    if getattr(args, "no_plots", False):
        overrides.setdefault("output", {})["plots"] = False
    return overrides


def main(argv=None):
    """Run one subcommand; returns the exit status (0 success, 1 failure, 2 usage or config error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from ..autograd.gradcheck import GradcheckError
    from ..backend import DeviceError
    from ..data.errors import DataError
    from .config import ConfigError
    from .errors import MissingPackageError, RunError, TrainingDiverged
    name = f"retrograd {args.command}"
    try:
        return args.handler(args, parser)
    except ConfigError as exc:
        print(f"{name}: config error: {exc}", file=sys.stderr)
        return 2
    except DataError as exc:
        print(f"{name}: data error: {exc}", file=sys.stderr)
        return 1
    except RunError as exc:
        print(f"{name}: run directory error: {exc}", file=sys.stderr)
        return 1
    except MissingPackageError as exc:
        print(f"{name}: missing package: {exc}", file=sys.stderr)
        return 1
    except TrainingDiverged as exc:
        print(f"{name}: FAILED: {exc}", file=sys.stderr)
        return 1
    except GradcheckError as exc:
        print(f"{name}: FAILED: {exc}", file=sys.stderr)
        return 1
    except DeviceError as exc:
        print(f"{name}: device error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except (ImportError, OSError, ValueError, TypeError, FloatingPointError) as exc:
        if os.environ.get("RETROGRAD_DEBUG"):
            raise
        print(f"{name}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:        # a bug: still one line, the traceback on request
        if os.environ.get("RETROGRAD_DEBUG"):
            raise
        print(f"{name}: internal error: {type(exc).__name__}: {_one_line(exc)} (set RETROGRAD_DEBUG=1 for "
              "the traceback, and please report it)", file=sys.stderr)
        return 1


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
