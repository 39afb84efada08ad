# The harness as a container image: `docker run ... dtr-upgrade-harness --target=... [options]`.
#
# Build (see README "Container image"): the wheels are made on the build machine, so the build
# itself needs no network and no index:
#   pip wheel --wheel-dir build/wheels . pip
#   docker build -t dtr-upgrade-harness .
# BASE is any Debian-like image with Python 3.11 (python3, useradd); the default is the public
# Python image, `--build-arg BASE=mirror.example.com/python:3.11-slim` takes a mirror's copy and
# the lab's tests use the engine tier's own `dtrlab/base:bookworm`.
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/dtr-upgrade/venv/bin:$PATH \
    DTR_UPGRADE_REPORT_DIR=/reports

# pip runs from its own wheel (the Debian base has no pip) and leaves no pip behind.
COPY build/wheels/ /tmp/wheels/
RUN set -eu; \
    python3 -m venv --without-pip /opt/dtr-upgrade/venv; \
    pip_wheel="$(ls /tmp/wheels/pip-*.whl | head -n 1)"; \
    /opt/dtr-upgrade/venv/bin/python3 "$pip_wheel/pip" install --no-cache-dir --no-index \
        --disable-pip-version-check --find-links /tmp/wheels dtr-upgrade-harness; \
    rm -rf /tmp/wheels; \
    useradd --system --uid 10001 --user-group --create-home --home-dir /home/dtr-upgrade \
        --shell /usr/sbin/nologin dtr-upgrade; \
    mkdir -p /reports; \
    chown dtr-upgrade:dtr-upgrade /reports

# The checks and the ini (markers, testpaths) are the project's, not part of the wheel.
COPY pyproject.toml conftest.py /opt/dtr-upgrade/
COPY checks/ /opt/dtr-upgrade/checks/

LABEL org.opencontainers.image.title="dtr-upgrade-harness" \
      org.opencontainers.image.description="pytest-based DTR / MSR 2.x upgrade verification harness"

USER 10001:10001
WORKDIR /opt/dtr-upgrade
# The cache provider would try to write .pytest_cache into the read-only checks folder.
ENTRYPOINT ["python3", "-m", "pytest", "-p", "no:cacheprovider", \
            "-c", "/opt/dtr-upgrade/pyproject.toml", "--rootdir=/opt/dtr-upgrade", \
            "/opt/dtr-upgrade/checks"]
CMD ["--help"]
