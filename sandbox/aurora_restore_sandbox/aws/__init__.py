"""AWS stand-in: moto in server mode, with RDS in-progress states and AWS's behaviour where
moto differs.

One module per job:

- :mod:`.server`: :class:`AwsSandbox` (moto's server in a thread, or attached to one
  elsewhere) and the WSGI middleware in front of moto;
- :mod:`.calls`: the call log and call hooks (:class:`DropRequest`);
- :mod:`.controls`: the ``/_sandbox/`` controls for what no AWS API can do;
- :mod:`.rds_states`: RDS in-progress states (``creating``, ``copying``, ``deleting``...)
  and the moto differences the operator copes with; :mod:`.rds_rename`,
  :mod:`.rds_point_in_time` and :mod:`.rds_shared_snapshots`: RDS calls made to behave
  as AWS's;
- :mod:`.seed`: the demo's data, and :func:`create_cluster` that any seed starts from;
  :mod:`.cli`: ``python -m aurora_restore_sandbox.aws``.
"""

from .calls import CallHook, DropRequest
from .cli import main
from .controls import CONTROL_PREFIX, DEFAULT_ACCOUNT_ID
from .rds_states import (
    RDS_CLUSTER,
    RDS_CLUSTER_RENAME,
    RDS_CLUSTER_SNAPSHOT,
    RDS_INSTANCE,
    RDS_MODELS,
    install_rds_states,
)
from .seed import create_cluster, seed_demo_data
from .server import AwsSandbox, sandbox_client

__all__ = [
    "CONTROL_PREFIX",
    "DEFAULT_ACCOUNT_ID",
    "RDS_CLUSTER",
    "RDS_CLUSTER_RENAME",
    "RDS_CLUSTER_SNAPSHOT",
    "RDS_INSTANCE",
    "RDS_MODELS",
    "AwsSandbox",
    "CallHook",
    "DropRequest",
    "create_cluster",
    "install_rds_states",
    "main",
    "sandbox_client",
    "seed_demo_data",
]
