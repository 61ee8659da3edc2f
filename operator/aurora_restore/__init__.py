"""aurora-restore-operator: restore AWS Aurora PostgreSQL clusters from snapshots, declaratively."""

__version__ = "0.1.0"

# The operator's name where Kubernetes asks for a component (events' reportingComponent).
COMPONENT = "aurora-restore-operator"
GROUP = "dbrestore.io"
VERSION = "v1alpha1"
MANAGED_BY_TAG = "dbrestore.io/managed-by"
OPERATION_TAG = "dbrestore.io/operation-id"
