"""``python -m aurora_restore_sandbox.aws``: the AWS stand-in in the foreground."""

import sys
import urllib.error

from .cli import main

if __name__ == "__main__":
    try:
        main()
    except urllib.error.URLError as exc:  # pragma: no cover - startup failure
        sys.exit(f"AWS sandbox failed: {exc}")
