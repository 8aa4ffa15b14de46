"""Run the soak many times in a row, with longer budgets, printing each run's summary lines.

Usage (from anywhere; pytest runs in the repository)::

    python tests/soak/loop.py --runs 20 --seconds 30
    python tests/soak/loop.py --runs 10 --seconds 20 -k postgres
    python tests/soak/loop.py --runs 5 --no-keys      # the control run: no idempotency keys
    python tests/soak/loop.py --runs 1 --seed 1234    # replay one run's random choices

Each run is one ``pytest tests/soak`` with ``TRIO_ES_SOAK_SECONDS`` set (and the suite's
watchdog raised to match); its summary lines are printed as they come, and the whole
output of a failed run is kept in a file whose name is printed. The exit status is 1 if
any run failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="how many runs (default 10)")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="fault budget per test (default 20)"
    )
    parser.add_argument("-k", dest="keyword", default=None, help="pytest -k expression")
    parser.add_argument("--seed", type=int, default=None, help="replay this seed")
    parser.add_argument(
        "--no-keys", action="store_true", help="control run: no idempotency keys, no re-asking"
    )
    parser.add_argument(
        "--stop-on-failure", action="store_true", help="stop at the first failed run"
    )
    options = parser.parse_args(argv)

    failed = 0
    for run in range(1, options.runs + 1):
        with tempfile.NamedTemporaryFile("r", suffix=".txt", prefix="soak-summary-") as summary:
            env = dict(os.environ)
            env["TRIO_ES_SOAK_SECONDS"] = str(options.seconds)
            env["TRIO_ES_SOAK_SUMMARY"] = summary.name
            # The suite's watchdog (tests/conftest.py) must outlast a long soak.
            env["TRIO_ES_TEST_TIMEOUT"] = str(max(120.0, options.seconds * 4 + 120))
            if options.seed is not None:
                env["TRIO_ES_SOAK_SEED"] = str(options.seed)
            if options.no_keys:
                env["TRIO_ES_SOAK_KEYS"] = "0"
            command = [sys.executable, "-m", "pytest", "tests/soak", "-q", "-p", "no:cacheprovider"]
            if options.keyword:
                command += ["-k", options.keyword]
            started = time.monotonic()
            done = subprocess.run(
                command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
            )
            seconds = time.monotonic() - started
            verdict = "passed" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
            print(f"run {run}/{options.runs}: {verdict} in {seconds:.1f} s", flush=True)
            for line in summary.read().splitlines():
                print(f"  {line}", flush=True)
        if done.returncode != 0:
            failed += 1
            with tempfile.NamedTemporaryFile(
                "w", suffix=".txt", prefix=f"soak-run-{run}-", delete=False
            ) as log:
                log.write(done.stdout + done.stderr)
            print(f"  output: {log.name}", flush=True)
            if options.stop_on_failure:
                break
    print(f"{failed} of {run} runs failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
