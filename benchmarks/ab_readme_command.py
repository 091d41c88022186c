"""The README's first command (`tsmamba forecast`, the built-in demo data) end to end, two
installs alternating A B A B on one machine.

    python benchmarks/ab_readme_command.py OLD/bin/tsmamba NEW/bin/tsmamba [--rounds 3]

Each run is a fresh process started from an empty working folder; its wall time includes
the imports. Prints one line per run: the install, the round, the exit status, seconds and
the load average when it ended.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commands", nargs=2, metavar="TSMAMBA",
                        help="the tsmamba executables of the two installs (A, then B)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(1, args.rounds + 1):
            for label, command in zip("AB", args.commands):
                start = time.perf_counter()
                done = subprocess.run([command, "forecast"], cwd=folder, capture_output=True)
                seconds = time.perf_counter() - start
                load = os.getloadavg()[0]
                print(f"{label} {command}: round {round_} rc {done.returncode} "
                      f"{seconds:.1f} s load {load:.2f}", flush=True)


if __name__ == "__main__":
    main()
