"""`python -m bench`: list the benchmarks (each runs as `python -m bench.<name>`)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    print("benchmarks (python -m bench.<name> --help):")
    for module in sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_")):
        doc = (importlib.import_module(f"bench.{module}").__doc__ or "").strip().splitlines()
        print(f"  {module:20} {doc[0] if doc else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
