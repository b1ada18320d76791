"""Run every benchmarks/bench_*.py in its own process and print their JSON lines (optionally to a file).

    python benchmarks/run_all.py [--only engine w2 ...] [--out results.jsonl]
"""
import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="substrings of benchmark file names to run")
    parser.add_argument("--out", help="append the JSON lines to this file")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if any(k in s.name for k in args.only)]
    failed = 0
    for script in scripts:
        print(f"# {script.name}", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        for line in lines:
            print(line, flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.writelines(line + "\n" for line in lines)
        if proc.returncode != 0:
            failed += 1
            print(f"# {script.name} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
