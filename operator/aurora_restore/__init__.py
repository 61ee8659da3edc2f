"""aurora-restore-operator: restore AWS Aurora PostgreSQL clusters from snapshots, declaratively."""

__version__ = "0.1.0"

GROUP = "dbrestore.io"
VERSION = "v1alpha1"
MANAGED_BY_TAG = "dbrestore.io/managed-by"
OPERATION_TAG = "dbrestore.io/operation-id"
