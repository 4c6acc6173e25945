# syntax=docker/dockerfile:1
#
# One image for every service and the gateway. Each Kubernetes Deployment chooses what it runs:
#   python -m auth_svc | tickets_svc | orders_svc | payments_svc | expiration_svc | gateway
#
#   docker build -t ticket-store:dev .
#
# Reproducible from the lock file: `uv sync --frozen` installs exactly the versions (and hashes) in uv.lock and
# never resolves. The protobuf package `ticketstore/` is not committed; it is generated here by `make proto`.
# The final stage holds the Python runtime, the locked runtime dependencies and our source: no uv, no compiler,
# no dev tools. It runs as the unprivileged user 10001 and never writes to its own filesystem.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# uv, pinned to the version the lock file is written with.
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_FROZEN=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_NO_SYNC=1

# ---------------------------------------------------------------------------------------------------------
# Generate the protobuf package. grpcio-tools and mypy-protobuf are in the dev group, so this stage syncs it.
FROM builder AS proto
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-install-project
ENV PATH=/src/.venv/bin:$PATH
# The source (.dockerignore keeps out local venvs, a locally generated ticketstore/, tests and caches).
COPY . .
RUN make proto \
 && test -n "$(find ticketstore -name '*_pb2.py' -print -quit)" \
 && python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
      common ticketstore auth_svc tickets_svc orders_svc payments_svc expiration_svc gateway

# ---------------------------------------------------------------------------------------------------------
# The web client, built from web/package-lock.json (npm ci) and the committed generated code: the build fails if
# the typed operations or the persisted-documents manifest drifted from the schema or the client's documents.
FROM ${NODE_IMAGE} AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-fund --no-audit
COPY gateway/schema.graphql /src/gateway/schema.graphql
COPY web/ ./
RUN npm run codegen:check \
 && npx vite build \
 && test -f dist/index.html

# ---------------------------------------------------------------------------------------------------------
# The runtime virtualenv: the locked runtime dependencies only (no dev group, the project itself not installed:
# its packages are plain source on PYTHONPATH in the final stage).
FROM builder AS venv
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    UV_PROJECT_ENVIRONMENT=/app/.venv UV_COMPILE_BYTECODE=1 \
    uv sync --frozen --no-dev --no-install-project

# ---------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="ticket-store" \
      org.opencontainers.image.description="ticket-store services and GraphQL gateway (one image, one module per Deployment)" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
# Owned by root, read-only for the app user.
COPY --from=venv /app/.venv /app/.venv
COPY --from=proto /src/ticketstore /app/ticketstore
COPY --from=proto /src/common /app/common
COPY --from=proto /src/auth_svc /app/auth_svc
COPY --from=proto /src/tickets_svc /app/tickets_svc
COPY --from=proto /src/orders_svc /app/orders_svc
COPY --from=proto /src/payments_svc /app/payments_svc
COPY --from=proto /src/expiration_svc /app/expiration_svc
COPY --from=proto /src/gateway /app/gateway
# The web client the gateway serves at `/`, and the manifest of its persisted operations.
COPY --from=web /src/web/dist /app/web/dist
COPY --from=web /src/web/persisted-documents.json /app/web/persisted-documents.json
ENV WEB_DIST_DIR=/app/web/dist
# Fail the build, not the pod: every Deployment's `python -m <module>` exists, and the shared runtime and the
# generated protos import with the runtime dependencies alone.
RUN python - <<'EOF'
import importlib.util
for module in ("auth_svc", "tickets_svc", "orders_svc", "payments_svc", "expiration_svc", "gateway"):
    assert importlib.util.find_spec(f"{module}.__main__"), f"no `python -m {module}`"
import common.runtime, ticketstore.events.v1
EOF
USER 10001:10001
# gateway HTTP; gRPC of auth, tickets, orders, payments, expiration (health only)
EXPOSE 8000 50051 50052 50053 50054 50055
CMD ["python", "-m", "gateway"]
