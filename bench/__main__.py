"""``python -m bench``."""

import sys

from bench.cli import main

if __name__ == "__main__":  # seeding processes re-import this module (spawn)
    sys.exit(main())
