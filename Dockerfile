# syntax=docker/dockerfile:1
#
# Two stages: the builder turns the source into a wheel and installs it, with
# its runtime dependencies only (no dev extra, so no test broker), into a
# virtualenv; the runtime stage copies that virtualenv and nothing else: no
# compiler, no build frontend, no source tree.
#
# Both stages use the same base image so the virtualenv's interpreter path
# (/usr/local/bin/python3.12) exists unchanged in the runtime stage.

FROM python:3.12.12-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps the rest out of the context).
COPY pyproject.toml README.md constraints.txt ./
COPY contracts ./contracts
COPY consumer ./consumer

# The runtime virtualenv gets no pip of its own: nothing in the running
# container should be able to install packages. pip --python installs into it
# from outside, and byte-compiles everything so a read-only root filesystem
# costs nothing at start-up. constraints.txt pins every dependency to the
# version `make constraints` resolved, so the same source builds the same image.
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv --without-pip /opt/leadsync \
    && python -m pip --python /opt/leadsync/bin/python install --compile \
        --constraint constraints.txt /wheels/*.whl


FROM python:3.12.12-slim-bookworm AS runtime

# Unbuffered so every log line reaches the container runtime before a kill;
# no .pyc writes because the root filesystem is read-only in Kubernetes.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/leadsync/bin:$PATH

# A named account for the numeric id, so tools that look the user up work; the
# Kubernetes manifests pin the same id (runAsUser: 10001).
RUN groupadd --system --gid 10001 leadsync \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin leadsync

COPY --from=builder /opt/leadsync /opt/leadsync

USER 10001:10001
WORKDIR /tmp

# LEADSYNC_HEALTH_PORT's default: /livez, /readyz and /metrics.
EXPOSE 8080

# Exec-form entrypoint makes leadsync PID 1, so SIGTERM reaches it directly
# and starts the drain (LEADSYNC_DRAIN_TIMEOUT_S).
STOPSIGNAL SIGTERM

# For plain `docker run`; Kubernetes ignores this and uses the manifests' probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('LEADSYNC_HEALTH_PORT', '8080') + '/livez', timeout=4)"]

ENTRYPOINT ["leadsync"]
CMD ["run"]
