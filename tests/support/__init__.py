"""What the test folders share: fixtures and helpers in one place, so that no folder imports
another's conftest or test module.

``tests/conftest.py`` registers the fixture modules as pytest plugins (``aws``: the moto
server; ``world``: the driver-level world; ``cluster``: the operator process against a
Kubernetes API). A folder that needs a different variant of a fixture overrides it by name
in its own conftest (``operator_world`` holds the variants of the operator-process suites).
The operator process itself is started by ``aurora_restore_sandbox.harness``.
"""
