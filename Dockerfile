# syntax=docker/dockerfile:1
# aurora-restore-operator image.
#   docker build -t REGISTRY/aurora-restore-operator:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
# Stage 1 builds the project's wheel and the wheels of all its dependencies;
# stage 2 installs them offline (--no-index) into a clean slim image.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
# The project wheel plus every pinned dependency as a wheel, in /wheels.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="aurora-restore-operator" \
      org.opencontainers.image.description="Kubernetes operator that restores AWS Aurora PostgreSQL clusters from snapshots (AuroraRestore resources)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    AURORA_RESTORE_METRICS_PORT=8080

# A named user with a home in /tmp (the only writable path under a read-only
# root filesystem) so libpq and botocore can resolve the user and its home.
RUN groupadd --system --gid 10001 aurora \
 && useradd --system --no-log-init --uid 10001 --gid 10001 \
      --home-dir /tmp --no-create-home --shell /usr/sbin/nologin aurora

# Offline install from stage 1's wheels; the wheels are bind-mounted, not copied,
# so they do not stay in a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/aurora_restore_operator-*.whl \
 && aurora-restore --help >/dev/null

USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["aurora-restore", "operator"]
