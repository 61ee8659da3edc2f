"""setup-db-users: reset the master password, create users and grants, run the post-restore
SQL, and write the connection Secret."""

from __future__ import annotations

from urllib.parse import quote

from ...api.restore import SecretKeyRef
from ...api.status import ClusterStatus
from ..context import Context, StepResult
from ..guards import confirm_own_cluster, fresh_cluster
from ..ports import DbEndpoint, DbUserSpec

NAME = "setup-db-users"


def _secret(ctx: Context, ref: SecretKeyRef | None, secrets_manager_id: str | None) -> str:
    """A password from a Kubernetes Secret or Secrets Manager (the spec allows exactly one)."""
    if ref is not None:
        value = ctx.ports.secrets.kubernetes_secret(ref)
    else:
        assert secrets_manager_id
        value = ctx.ports.secrets.secrets_manager(ctx.spec.target.region, secrets_manager_id)
    return ctx.remember_secret(value)


def master_password(ctx: Context) -> str:
    assert ctx.spec.master_password
    ref = ctx.spec.master_password
    return _secret(ctx, ref.secret_ref, ref.secrets_manager_secret_id)


def write_connection_secret(ctx: Context, cluster: ClusterStatus, user: str, password: str) -> None:
    """``user``/``password`` are the master's: the default, unless connectionSecret.user
    names one of spec.users, whose credentials applications then get instead."""
    assert ctx.spec.connection_secret and cluster.endpoint and cluster.port
    dbname = ctx.spec.connection_secret.database
    named = ctx.spec.connection_secret.user
    if named is not None:
        app = next(u for u in ctx.spec.users if u.name == named)
        user = app.name
        password = _secret(ctx, app.password_secret_ref, app.password_secrets_manager_secret_id)
    ctx.ports.secrets.write_connection_secret(
        ctx.spec.connection_secret.name,
        {
            "host": cluster.endpoint,
            "port": str(cluster.port),
            "username": user,
            "password": password,
            "dbname": dbname,
            "uri": f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{cluster.endpoint}:{cluster.port}/{quote(dbname, safe='')}",
        },
    )


def run(ctx: Context) -> StepResult:
    spec = ctx.spec
    if spec.master_password is None:
        return StepResult.skip("Nothing to configure: no masterPassword, users or SQL")
    cluster = ctx.status.cluster
    assert cluster
    password = master_password(ctx)
    if not cluster.master_password_reset:
        # The restored cluster keeps the source's master password until this reset.
        confirm_own_cluster(
            ctx,
            fresh_cluster(ctx, cluster.region, cluster.identifier),
            "reset its master password",
        )
        ctx.ports.rds.set_master_password(cluster.region, cluster.identifier, password)
        cluster.master_password_reset = True
        return StepResult.waiting("Master password reset requested", wait=ctx.config.poll_floor)
    current = ctx.ports.rds.get_cluster(cluster.region, cluster.identifier)
    if current is not None and current.status != "available":
        return StepResult.waiting(
            f"Waiting for the cluster to apply the new master password ({current.status})"
        )
    if not (spec.users or spec.sql or spec.connection_secret):
        return StepResult.finished("Master password reset", reason="DatabaseConfigured")

    assert cluster.endpoint and cluster.port
    host, port = ctx.ports.database.endpoint(cluster.endpoint, cluster.port)
    master = DbEndpoint(host, port, cluster.master_username or "postgres", password)
    ctx.ports.database.check_master(master)
    users = [
        DbUserSpec(
            u.name,
            _secret(ctx, u.password_secret_ref, u.password_secrets_manager_secret_id),
            u.privileges,
            tuple(u.databases),
        )
        for u in spec.users
    ]
    summary = ctx.ports.database.setup_users(master, users) if users else []
    for index, script in enumerate(spec.sql):
        if index < ctx.status.sql_applied:
            continue
        text = script.inline
        if text is None:
            assert script.config_map_ref
            text = ctx.ports.secrets.config_map(script.config_map_ref)
        label = (
            f"sql[{index}] ({script.config_map_ref.name}/{script.config_map_ref.key})"
            if script.config_map_ref
            else f"sql[{index}]"
        )
        ctx.ports.database.run_sql(master, label, script.database, text)
        ctx.status.sql_applied = index + 1
    # A swap writes it once the new cluster answers at the target's endpoint.
    if spec.connection_secret and not ctx.status.swap:
        write_connection_secret(ctx, cluster, master.user, password)
    done = [f"{len(users)} user(s)", f"{len(spec.sql)} SQL script(s)"]
    if spec.connection_secret:
        later = " (after the swap)" if ctx.status.swap else ""
        done.append(f"connection Secret {spec.connection_secret.name}{later}")
    return StepResult.finished(
        "Database users configured successfully: " + ", ".join(done),
        reason="DatabaseConfigured",
        target_cluster_id=cluster.identifier,
        cluster_endpoint=cluster.endpoint,
        users=[u.name for u in users],
        summary=summary,
    )
