# syntax=docker/dockerfile:1
# The Tenant Registry image: one image for every process (API, projector, worker, scheduler,
# migrate); the command picks the role. Build: `docker build -t tenant-registry .`

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: compilers live here only -------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# Dependencies first, so that a code change does not rebuild them. The lock file pins every
# version (it also lists the dev tools: as constraints they are only used if needed).
COPY pyproject.toml requirements.lock README.md ./
RUN mkdir -p domain application projections api workers cli common \
 && for p in domain application projections api workers cli common; do touch "$p/__init__.py"; done \
 && pip wheel --wheel-dir /wheels -c requirements.lock .
COPY domain ./domain
COPY application ./application
COPY projections ./projections
COPY api ./api
COPY workers ./workers
COPY cli ./cli
COPY common ./common
RUN rm -f /wheels/tenant_registry-*.whl \
 && pip wheel --no-deps --wheel-dir /wheels .

# --- runtime: no compilers, not root ---------------------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# tzdata: the scheduler runs with TZ=<business zone> and the C library needs the zone files.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 registry \
 && useradd --system --uid 10001 --gid registry --home-dir /app --create-home registry
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels tenant-registry
WORKDIR /app
USER registry
EXPOSE 8000
# Liveness of the API (the default command). Other roles (worker, projector, scheduler) set
# their own healthcheck in docker-compose.yml.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["tenant-registry"]
CMD ["serve", "--host", "0.0.0.0"]
