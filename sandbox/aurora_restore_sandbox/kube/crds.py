"""CustomResourceDefinitions turned into served resources, and their ``Established`` status.

General, free of this project's names: it could be offered upstream to kmock, whose
emulator stores a created CRD as any other object, so its resources never become
discoverable and clients that wait for ``Established`` (``kubectl wait``, kopf) wait for
ever. Here every served version of a CRD becomes a resource with the CRD's scope, names,
short names, categories and subresources, and keeps the version's schema (for defaults)
and printer columns (for Tables); the CRD's status says its names are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import kmock

from .objects import ApiError, Obj, now_timestamp

CRD_RESOURCE = kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
CRD_VERBS = ("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch")


@attrs.define(eq=False)
class CrdVersion:
    """What the server keeps of one served version of a CRD."""

    crd_name: str
    schema: Mapping[str, Any]
    columns: list[Mapping[str, Any]]


def served_versions(
    crd: Obj,
) -> tuple[list[tuple[kmock.resource, kmock.ResourceInfo, CrdVersion]], list[str]]:
    """The resources a CRD serves, and the names of its storage versions."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group")
    plural = names.get("plural")
    if not group or not plural or not names.get("kind"):
        raise ApiError(422, "Invalid", "spec.group, spec.names.plural and kind are required")
    served: list[tuple[kmock.resource, kmock.ResourceInfo, CrdVersion]] = []
    storage: list[str] = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        info = kmock.ResourceInfo(
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            kind=names["kind"],
            singular=names.get("singular") or names["kind"].lower(),
            verbs=set(CRD_VERBS),
            shortnames=set(names.get("shortNames") or []),
            categories=set(names.get("categories") or []),
            subresources=set((version.get("subresources") or {}).keys()),
        )
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
        columns = list(version.get("additionalPrinterColumns") or [])
        resource = kmock.resource(group, version["name"], plural)
        served.append((resource, info, CrdVersion(crd["metadata"]["name"], schema, columns)))
        if version.get("storage"):
            storage.append(version["name"])
    return served, storage


def established_status(crd: Obj, storage: list[str]) -> Obj:
    """The status of an accepted CRD. A re-applied CRD keeps its transition times, so that
    applying it again unchanged stays a no-op."""
    names = (crd.get("spec") or {}).get("names") or {}
    previous = {
        condition.get("type"): condition.get("lastTransitionTime")
        for condition in (crd.get("status") or {}).get("conditions") or []
    }
    now = now_timestamp()
    return {
        "acceptedNames": dict(names),
        "storedVersions": storage,
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": previous.get("NamesAccepted") or now,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": previous.get("Established") or now,
            },
        ],
    }
