# syntax=docker/dockerfile:1
# billsync's image. Stages:
#   build    a virtualenv with the runtime dependencies (a layer rebuilt only when pyproject.toml
#            changes), then billsync itself on top (rebuilt on code changes, seconds)
#   runtime  that virtualenv on a clean base, a non-root user and a HEALTHCHECK (the default)
#   sim      runtime plus the simulators' own dependencies (docker-compose's dev profile)
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/billsync
WORKDIR /src
COPY pyproject.toml ./
# Runtime dependencies only: [project.dependencies] without what only the simulators need
# (the "sim" extra), and no test or bench extras.
RUN python - <<'PY'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
sim = project["optional-dependencies"]["sim"]
name = lambda spec: re.split(r"[\[<>=~! ;]", spec, maxsplit=1)[0].lower()
runtime = [s for s in project["dependencies"] if name(s) not in {name(s) for s in sim}]
open("/tmp/runtime.txt", "w").write("\n".join(runtime) + "\n")
open("/tmp/sim.txt", "w").write("\n".join(sim) + "\n")
PY
RUN /opt/billsync/bin/pip install -r /tmp/runtime.txt
COPY README.md ./
COPY billsync ./billsync
COPY workers ./workers
COPY statemachine ./statemachine
COPY adapters ./adapters
COPY simulators ./simulators
COPY migrations ./migrations
RUN /opt/billsync/bin/pip install --no-deps .

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --no-create-home billsync
COPY --from=build /opt/billsync /opt/billsync
# billsync doctor compares the org with the metadata billsync ships (BILLSYNC_SF_METADATA_DIR).
WORKDIR /app
COPY salesforce/force-app ./salesforce/force-app
ENV PATH=/opt/billsync/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BILLSYNC_METRICS_PORT=9100 \
    BILLSYNC_LOG_FORMAT=json
USER billsync
EXPOSE 9100
# Alive while the metrics port answers (/readyz also checks the broker, store and LogiSense).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BILLSYNC_METRICS_PORT', '9100'), timeout=4)"]
ENTRYPOINT ["billsync"]
CMD ["worker"]

FROM runtime AS sim
USER root
COPY --from=build /tmp/sim.txt /tmp/sim.txt
RUN /opt/billsync/bin/pip install --no-cache-dir -r /tmp/sim.txt && rm /tmp/sim.txt
USER billsync
HEALTHCHECK NONE
