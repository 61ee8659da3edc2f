"""``python -m aurora_restore_sandbox.kube``: the Kubernetes API stand-in in the foreground."""

from .server import main

if __name__ == "__main__":
    main()
