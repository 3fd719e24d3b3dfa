"""Run PoseAnything Studio from a checkout: `python main.py [PROJECT]` or `python main.py render ...`."""

import sys

from poseanything_studio.commands import main

if __name__ == "__main__":
    sys.exit(main())
