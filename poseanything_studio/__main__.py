"""`python -m poseanything_studio`: the same as the `poseanything-studio` command."""

import sys

from .cli import main

sys.exit(main())
