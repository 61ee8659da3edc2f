"""A tiny kopf operator to prove the Kubernetes sandbox against the real kopf.

With SANDBOX_KUBE_URL set it logs in through a login handler (in-process
runs: the kubernetes client reads KUBECONFIG only once, at import); without
it, kopf's own login reads the kubeconfig (separate-process runs).
"""

import os

import kopf

RESOURCE = ("dbrestore.io", "v1alpha1", "aurorarestores")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.persistence.finalizer = "sandbox.dbrestore.io/finalizer"
    settings.watching.server_timeout = 30
    settings.posting.level = 20


if os.environ.get("SANDBOX_KUBE_URL"):

    @kopf.on.login()
    def login(**_):
        return kopf.ConnectionInfo(server=os.environ["SANDBOX_KUBE_URL"], token="sandbox-token")


@kopf.on.create(*RESOURCE)
def created(body, spec, patch, **_):
    patch.status["phase"] = "Pending"
    kopf.info(body, reason="Accepted", message="The restore is accepted.")
    return {"region": spec.get("target", {}).get("region")}


@kopf.timer(*RESOURCE, interval=0.2, initial_delay=0.1)
def tick(status, patch, **_):
    ticks = int(status.get("ticks", 0)) + 1
    patch.status["ticks"] = ticks
    if ticks >= 2:
        patch.status["phase"] = "Completed"
        patch.status["conditions"] = [
            {"type": "Ready", "status": "True", "reason": "Completed", "message": "Done."}
        ]


@kopf.on.delete(*RESOURCE)
def deleted(body, **_):
    kopf.info(body, reason="Deleting", message="The restore is being deleted.")
