"""The emulator served over real HTTP on 127.0.0.1, from a background thread (for tests,
the demo and the benchmark) or in the foreground (``python -m aurora_restore_sandbox.kube``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import pathlib
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import aiohttp.web
import kmock
import yaml

from ..lifecycle import Service, run_until_signal
from .emulator import SandboxEmulator
from .objects import ApiError, Obj

T = TypeVar("T")


def load_yaml_documents(path: str | pathlib.Path) -> list[Obj]:
    with open(path, encoding="utf-8") as file:
        return [doc for doc in yaml.safe_load_all(file) if isinstance(doc, dict)]


class KubeSandbox(Service):
    """The emulator on 127.0.0.1 in a background thread with its own event loop.

    Accessors (``get``, ``list``, ``register_crd``...) are thread-safe: they run
    on the emulator's loop.
    """

    what = "The Kubernetes sandbox"

    def __init__(
        self,
        port: int = 0,
        crds: Iterable[str | pathlib.Path] = (),
        token: str = "sandbox-token",
        **emulator_options: Any,
    ) -> None:
        self._port = port
        self._crd_paths = list(crds)
        self.token = token
        self._options = emulator_options
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._url: str | None = None
        self._emulator: SandboxEmulator | None = None

    @property
    def url(self) -> str:
        return self._started(self._url)

    @property
    def emulator(self) -> SandboxEmulator:
        """The emulator itself: touch it only on its loop (see :meth:`call`)."""
        return self._started(self._emulator)

    def start(self) -> str:
        if self._thread is not None:
            return self.url
        self._thread = threading.Thread(target=self._run, name="kube-sandbox", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError("The Kubernetes sandbox failed to start.") from self._startup_error
        for path in self._crd_paths:
            self.register_crd_file(path)
        return self.url

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)
        self._thread = None
        self._url = None

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start() if it happens early
            self._startup_error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        emulator = SandboxEmulator(**self._options)
        async with emulator:
            runner = aiohttp.web.ServerRunner(
                aiohttp.web.Server(emulator, access_log=None), shutdown_timeout=1.0
            )
            await runner.setup()
            site = aiohttp.web.TCPSite(runner, "127.0.0.1", self._port)
            await site.start()
            port = runner.addresses[0][1]
            self._emulator = emulator
            self._url = f"http://127.0.0.1:{port}"
            self._ready.set()
            try:
                await self._stopping.wait()
            finally:
                emulator.shutdown_watches()
                await runner.cleanup()

    def call(self, fn: Callable[[SandboxEmulator], T]) -> T:
        """Run ``fn(emulator)`` on the emulator's loop and return its result."""
        loop = self._started(self._loop)
        emulator = self.emulator

        async def run() -> T:
            return fn(emulator)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)

    def register_crd(self, crd: Mapping[str, Any]) -> Obj:
        return self.call(lambda emulator: emulator.register_crd(crd))

    def register_crd_file(self, path: str | pathlib.Path) -> list[Obj]:
        """Register every CustomResourceDefinition in a (multi-document) YAML file."""
        return [
            self.register_crd(doc)
            for doc in load_yaml_documents(path)
            if doc.get("kind") == "CustomResourceDefinition"
        ]

    def register_crd_dir(self, directory: str | pathlib.Path) -> list[Obj]:
        registered: list[Obj] = []
        for path in sorted(pathlib.Path(directory).glob("*.y*ml")):
            registered += self.register_crd_file(path)
        return registered

    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj | None:
        """An object by resource name (``aurorarestores``, ``ar``, ``v1/secrets``...)."""
        return self.call(
            lambda emulator: emulator.get_object(emulator.resolve(resource), namespace, name)
        )

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        return self.call(
            lambda emulator: emulator.list_objects(emulator.resolve(resource), namespace)
        )

    def create(self, resource: str, body: Mapping[str, Any], namespace: str | None = None) -> Obj:
        return self.call(
            lambda emulator: emulator.create_object(
                emulator.resolve(resource), dict(body), namespace
            )
        )

    def patch(
        self,
        resource: str,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> Obj:
        return self.call(
            lambda emulator: emulator.patch_object(
                emulator.resolve(resource), namespace, name, patch, subresource
            )
        )

    def patch_status(
        self, resource: str, name: str, status: Mapping[str, Any], namespace: str | None = None
    ) -> Obj:
        return self.patch(resource, name, {"status": dict(status)}, namespace, "status")

    def delete(self, resource: str, name: str, namespace: str | None = None) -> Obj:
        return self.call(
            lambda emulator: emulator.delete_object(emulator.resolve(resource), namespace, name)
        )

    def inject_error(
        self,
        code: int,
        method: str | None = None,
        path_prefix: str | None = None,
        times: int | None = None,
        reason: str = "InternalError",
    ) -> Callable[[], None]:
        """Answer matching requests with a ``Status`` error; returns the undo.

        The state is not touched by a failed request. ``times`` limits how many
        requests fail; ``method`` and ``path_prefix`` narrow which ones.
        """
        failed: set[int] = set()

        def matches(request: kmock.Request) -> bool:
            if method is not None and str(request.method.value).upper() != method.upper():
                return False
            if path_prefix is not None and not request.url.path.startswith(path_prefix):
                return False
            # Criteria are evaluated more than once per request: count requests, not calls.
            if id(request) in failed:
                return True
            if times is not None and len(failed) >= times:
                return False
            failed.add(id(request))
            return True

        status = ApiError(code, reason, f"injected error {code}").status()

        def install(emulator: SandboxEmulator) -> Any:
            return emulator[matches] << code << status

        reaction = self.call(install)

        def undo() -> None:
            self.call(lambda emulator: emulator._payloads.remove(reaction))

        return undo

    def api_calls(self) -> collections.Counter[tuple[str, str]]:
        """Requests served so far, by (verb, resource[/subresource])."""
        return self.call(lambda emulator: collections.Counter(emulator.api_calls))

    def reset_api_calls(self) -> None:
        self.call(lambda emulator: emulator.api_calls.clear())

    def errors(self) -> list[Exception]:
        """Unexpected server-side exceptions (answered as 500s); empty when all is well."""
        return self.call(
            lambda emulator: [
                exc for exc in emulator.errors if not isinstance(exc, kmock.KubernetesError)
            ]
        )

    def write_kubeconfig(
        self, path: str | pathlib.Path, namespace: str = "default"
    ) -> pathlib.Path:
        """A kubeconfig for this server: plain http, a bearer token, one context."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": "sandbox", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "sandbox",
                    "context": {"cluster": "sandbox", "user": "sandbox", "namespace": namespace},
                }
            ],
            "current-context": "sandbox",
            "preferences": {},
        }
        target = pathlib.Path(path)
        target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m aurora_restore_sandbox.kube",
        description="Run the Kubernetes API stand-in in the foreground.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for the server here")
    parser.add_argument("--crds", help="register the CRDs of every YAML file in this directory")
    args = parser.parse_args(argv)

    sandbox = KubeSandbox(port=args.port)
    url = sandbox.start()
    if args.crds:
        sandbox.register_crd_dir(args.crds)
    if args.kubeconfig:
        sandbox.write_kubeconfig(args.kubeconfig)
        print(f"KUBECONFIG={args.kubeconfig}", flush=True)
    print(f"KUBE_API_URL={url}", flush=True)

    run_until_signal(sandbox)
