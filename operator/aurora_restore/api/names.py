"""Every name of the contract, once: the API group and version, the kinds and their
plurals, and the labels, annotations, AWS tags and finalizer the operator writes.

Everything else (the handlers, the CLI, the CRD renderer, the pipeline's tags) imports
these; a name spelled out anywhere else is a second home that can drift.
"""

from __future__ import annotations

# The operator's name: events' reportingComponent, the CRDs' app.kubernetes.io/name label,
# the managed-by tag's value, the database application_name.
COMPONENT = "aurora-restore-operator"

GROUP = "dbrestore.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "dbrestore"

RESTORE_KIND = "AuroraRestore"
RESTORE_PLURAL = "aurorarestores"
RESTORE_SHORT = "ar"
SCHEDULE_KIND = "AuroraRestoreSchedule"
SCHEDULE_PLURAL = "aurorarestoreschedules"
SCHEDULE_SHORT = "ars"

# Prefix of every label, annotation and tag the operator owns; users may not set tags
# under it (spec.target.tags).
PREFIX = f"{GROUP}/"

# Labels and annotations on the Kubernetes objects.
SCHEDULE_LABEL = f"{PREFIX}schedule"  # an AuroraRestore created by a schedule
RESTORE_LABEL = f"{PREFIX}restore"  # a connection Secret written for a restore
RERUN_ANNOTATION = f"{PREFIX}rerun"
ABANDON_ANNOTATION = f"{PREFIX}abandon-cleanup"
SCHEDULED_AT_ANNOTATION = f"{PREFIX}scheduled-at"
RUN_NOW_ANNOTATION = f"{PREFIX}run-now"
FINALIZER = f"{PREFIX}finalizer"

# Tags on the AWS objects a run creates, and on Secrets Manager secrets.
MANAGED_BY_TAG = f"{PREFIX}managed-by"
MANAGED_BY_VALUE = COMPONENT
OPERATION_TAG = f"{PREFIX}operation-id"
OWNER_TAG = f"{PREFIX}owner"
ARCHIVED_TAG = f"{PREFIX}archived"
RESTORE_TIME_TAG = f"{PREFIX}restore-time"
NAMESPACE_TAG = f"{PREFIX}namespace"
