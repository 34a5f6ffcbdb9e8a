# One image for the gateway (`alertgw serve`, the default) and the workers (`alertgw worker`).
# Lint with .ci/lint-deploy (hadolint); there is no Docker engine in CI to build it.

# --- builder: resolve the pinned dependencies into a venv that the runtime stage copies ---
FROM python:3.11.14-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, from pyproject.toml's exact pins, so a code-only change reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt

# Then the project itself; --no-deps because every dependency is already pinned in place.
COPY README.md ./
COPY alertgw ./alertgw
COPY core ./core
COPY gateway ./gateway
COPY workers ./workers
RUN pip install --no-cache-dir --no-deps . \
    && python -m compileall -q /opt/venv

# --- runtime: the venv, the default rules and an unprivileged user; no build tools ---
FROM python:3.11.14-slim-bookworm

# A fixed numeric uid so Kubernetes can check runAsNonRoot without resolving a name.
RUN groupadd --system --gid 10001 alertgw \
    && useradd --system --uid 10001 --gid alertgw --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin alertgw

COPY --from=builder /opt/venv /opt/venv
COPY rules /etc/alertgw/rules

# The bytecode was compiled in the builder: the root filesystem may be read-only at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ALERTGW_HOST=0.0.0.0 \
    ALERTGW_PORT=8080 \
    ALERTGW_WORKER_METRICS_PORT=9108 \
    ALERTGW_RULES=/etc/alertgw/rules

WORKDIR /opt/alertgw
USER 10001:10001

# 8080: gateway HTTP (webhooks, API, /healthz, /readyz, /metrics); 9108: worker /metrics.
EXPOSE 8080 9108

# slim has no curl; the gateway's liveness endpoint, on whatever port it was given.
# Workers have no /healthz: docker-compose overrides this for them (Kubernetes ignores it).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('ALERTGW_PORT', '8080') + '/healthz', timeout=2)"]

ENTRYPOINT ["alertgw"]
CMD ["serve"]
