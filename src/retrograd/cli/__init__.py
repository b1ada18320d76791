"""The `retrograd` command line: subcommands dispatch to their own modules."""
import argparse
import sys

from .. import __version__


def build_parser():
    parser = argparse.ArgumentParser(prog="retrograd", description="Train neural networks by backpropagation.")
    parser.add_argument("--version", action="version", version=f"retrograd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="train a 2-2-1 sigmoid network on XOR by backprop and print the loss")
    demo.add_argument("--epochs", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=0)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "demo":
        from .demo import run_demo
        return run_demo(epochs=args.epochs, seed=args.seed)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
