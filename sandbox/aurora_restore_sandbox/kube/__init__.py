"""Kubernetes API stand-in: kmock's KubernetesEmulator, made stateful enough for kopf, the
``kubernetes`` client and kubectl, served over real HTTP on 127.0.0.1.

One module per job:

- :mod:`.emulator`: :class:`SandboxEmulator`, the store and the request handling;
- :mod:`.server`: :class:`KubeSandbox` (the emulator in a thread) and the command line;
- general fixes to kmock, free of this project's names, each of which could be offered
  upstream: :mod:`.selectors` (label/field selectors, printer-column JSONPath),
  :mod:`.protobuf` (kubectl's protobuf bodies), :mod:`.tables` (``as=Table``),
  :mod:`.watch` (``resourceVersion`` resumption, 410), :mod:`.crds` (CRDs become
  resources), :mod:`.discovery` (discovery documents, namespace paths),
  :mod:`.requests` (verbs and bodies) and :mod:`.objects` (Status errors, patches,
  schema defaults).
"""

from .crds import CRD_RESOURCE, CRD_VERBS
from .emulator import (
    CORE_EVENTS,
    DEFAULT_NAMESPACES,
    EVENTS,
    NAMESPACES,
    SECRETS,
    SandboxEmulator,
)
from .objects import ApiError, api_version, apply_schema_defaults, merge_patch, now_timestamp
from .protobuf import decode_k8s_protobuf
from .selectors import field_selector, jsonpath_value, label_selector
from .server import KubeSandbox, load_yaml_documents, main
from .tables import human_duration

__all__ = [
    "CORE_EVENTS",
    "CRD_RESOURCE",
    "CRD_VERBS",
    "DEFAULT_NAMESPACES",
    "EVENTS",
    "NAMESPACES",
    "SECRETS",
    "ApiError",
    "KubeSandbox",
    "SandboxEmulator",
    "api_version",
    "apply_schema_defaults",
    "decode_k8s_protobuf",
    "field_selector",
    "human_duration",
    "jsonpath_value",
    "label_selector",
    "load_yaml_documents",
    "main",
    "merge_patch",
    "now_timestamp",
]
