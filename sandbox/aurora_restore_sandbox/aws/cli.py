"""``python -m aurora_restore_sandbox.aws``: the AWS stand-in in the foreground, seeded on
request; it prints ``AWS_ENDPOINT_URL=...`` last, once it is ready."""

from __future__ import annotations

import argparse
import json

from ..lifecycle import run_until_signal
from .seed import seed_demo_data
from .server import AwsSandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m aurora_restore_sandbox.aws",
        description="Run the AWS stand-in (moto with RDS in-progress states) in the foreground.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--delay", type=float, default=0, help="seconds each RDS in-progress state lasts"
    )
    parser.add_argument("--seed", action="store_true", help="create the demo data")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    sandbox = AwsSandbox(delay_seconds=args.delay, port=args.port, quiet=not args.verbose)
    url = sandbox.start()
    if args.seed:
        print(f"SEEDED={json.dumps(seed_demo_data(url))}", flush=True)
    # The last line, and the sign that the server is ready (and seeded).
    print(f"AWS_ENDPOINT_URL={url}", flush=True)

    run_until_signal(sandbox)
