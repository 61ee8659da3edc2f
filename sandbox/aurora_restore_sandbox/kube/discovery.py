"""API discovery and the paths of namespaces, as the API server serves and reads them.

A general fix, free of this project's names, that could be offered upstream to kmock
(0.8). Its emulator:

- reads ``/api/v1/namespaces/x`` as "namespace x, no resource" and fails on
  ``/api/v1/namespaces``, so namespaces themselves cannot be created, read or listed:
  :func:`install_path_fix` replaces its path parser for those paths;
- answers discovery with ``/v1`` as the core group's version and gives subresources the
  short names of their resource, which kubectl then finds ambiguous: the
  :class:`DiscoveryMixin` methods serve ``/apis``, ``/apis/<group>`` and
  ``/api(s)/<group>/<version>`` from the emulator's resources instead, with each group's
  versions in Kubernetes' order (GA, then beta, then alpha, newest first).
"""

from __future__ import annotations

import collections
import re
from typing import Any

import kmock
from kmock._internal import parsing as kmock_parsing

Obj = dict[str, Any]

_parse_path_original = kmock_parsing.parse_path


def _parse_path(path: str) -> kmock_parsing.ParsedPath:
    """kmock's parser, except for namespaces themselves."""
    parts = path.strip("/").split("/")
    if len(parts) in (3, 4, 5) and parts[0] == "api" and parts[2] == "namespaces":
        if len(parts) < 5 or parts[4] in ("status", "finalize"):
            name = parts[3] if len(parts) >= 4 else None
            sub = parts[4] if len(parts) == 5 else None
            return kmock_parsing.ParsedPath("", parts[1], "namespaces", None, name, sub)
    return _parse_path_original(path)


def install_path_fix() -> None:
    """Process-wide and idempotent: kmock's Request looks the parser up on every request."""
    kmock_parsing.parse_path = _parse_path


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes' order of versions: GA before beta before alpha, newest first."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if match is None:
        return (3, 0, 0, version)
    stability = {None: 0, "beta": 1, "alpha": 2}[match[2]]
    return (stability, -int(match[1]), -int(match[3] or 0), version)


class DiscoveryMixin:
    """Discovery for a ``kmock.KubernetesEmulator`` subclass (put it first in the bases)."""

    __slots__ = ()
    resources: kmock.ResourcesArray

    def _group_versions(self) -> dict[str, list[str]]:
        groups: dict[str, set[str]] = collections.defaultdict(set)
        for resource in self.resources:
            if resource.plural and resource.version is not None and resource.group is not None:
                groups[resource.group].add(resource.version)
        return {group: sorted(versions, key=version_priority) for group, versions in groups.items()}

    @staticmethod
    def _api_group(group: str, versions: list[str]) -> Obj:
        listed = [
            {"groupVersion": f"{group}/{version}", "version": version} for version in versions
        ]
        return {"name": group, "versions": listed, "preferredVersion": listed[0]}

    async def _serve_apis(self, request: kmock.Request) -> Any:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                self._api_group(group, versions)
                for group, versions in sorted(self._group_versions().items())
                if group
            ],
        }

    async def _serve_group(self, request: kmock.Request) -> Any:
        assert request.resource is not None
        versions = self._group_versions().get(str(request.resource.group))
        if not versions or not request.resource.group:
            raise kmock.KubernetesResourceNotFoundError()
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            **self._api_group(request.resource.group, versions),
        }

    async def _serve_version(self, request: kmock.Request) -> Any:
        assert request.resource is not None
        group, version = request.resource.group, request.resource.version
        found = sorted(
            (res for res in self.resources if res.group == group and res.version == version),
            key=lambda res: str(res.plural),
        )
        if not found and group != "":
            raise kmock.KubernetesResourceNotFoundError()
        entries: list[Obj] = []
        for resource in found:
            info = self.resources[resource]
            entries.append(
                {
                    "name": resource.plural,
                    "singularName": info.singular or "",
                    "namespaced": bool(info.namespaced),
                    "kind": info.kind,
                    "verbs": sorted(info.verbs),
                    "shortNames": sorted(info.shortnames),
                    "categories": sorted(info.categories),
                }
            )
            for sub in sorted(info.subresources):
                entries.append(
                    {
                        "name": f"{resource.plural}/{sub}",
                        "singularName": "",
                        "namespaced": bool(info.namespaced),
                        "kind": info.kind if sub == "status" else sub.capitalize(),
                        "verbs": ["get", "patch", "update"]
                        if sub in ("status", "scale")
                        else ["get"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": entries,
        }
