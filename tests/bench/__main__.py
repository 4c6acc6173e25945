"""`python -m tests.bench`: run every scenario and write docs/BENCHMARKS.md (`--help` for options)."""

import sys

from tests.bench.run import main

if __name__ == "__main__":
    sys.exit(main())
