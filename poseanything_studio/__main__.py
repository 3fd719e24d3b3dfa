"""`python -m poseanything_studio`: the same as the `poseanything-studio` command."""

import sys

from .commands import main

sys.exit(main())
