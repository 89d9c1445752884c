# syntax=docker/dockerfile:1
#
# wiretag in one image: the HTTP service (the default command) and the feed poller
# (`docker run IMAGE python -m poller`).  Two stages: the builder installs the project and
# its dependencies, taken from pyproject.toml alone, into a virtualenv; the runtime stage
# copies only that virtualenv, so no compiler, pip cache or source tree ships.
#
#   docker build -t wiretag .
#   docker run -d -p 8000:8000 -e WIRETAG_API_KEYS=... -v wiretag-data:/data wiretag
#   docker run -d --no-healthcheck -v wiretag-data:/data wiretag python -m poller
#
# The service listens on 0.0.0.0 in the container and refuses to start without
# WIRETAG_API_KEYS.  It is served directly by gunicorn with gevent workers (see
# gunicorn.conf.py), so clients that send slowly park a greenlet instead of a worker and
# gunicorn's own refusals answer JSON.  compose.yaml runs both programs against PostgreSQL.

# Both stages must use the same interpreter path, or the copied venv breaks: one ARG.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv

# Dependencies first, read from pyproject.toml, so that a code change does not reinstall
# scikit-learn and friends: this layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/deps.txt \
    && /opt/venv/bin/pip install --requirement /tmp/deps.txt

# Then the project itself, as a regular (non-editable) install: the packages and their
# package data, among them the shipped model (model/wiretag.joblib, model/card.json), land
# in site-packages, where settings' default model_dir points.
COPY README.md ./
COPY common/ common/
COPY settings/ settings/
COPY model/ model/
COPY training/ training/
COPY service/ service/
COPY poller/ poller/
COPY store/ store/
COPY stories/ stories/
# The check runs isolated (-I) so that it imports the installed packages, not ./model, and
# fails the build if the model did not make it into site-packages or does not load.
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/python -I -c "import settings, model, stories; d = settings.SHIPPED_MODEL_DIR; assert 'site-packages' in str(d), d; model.load(d)"


FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="wiretag" \
      org.opencontainers.image.description="Tags news about jihadist conflict with four topics, over HTTP and from RSS/Atom feeds."

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WIRETAG_DATA_DIR=/data \
    WIRETAG_FEEDS_FILE=/app/feeds.opml \
    WIRETAG_BIND=0.0.0.0:8000

# A fixed uid/gid so that volumes can be chowned from the host when needed.
RUN groupadd --system --gid 10001 wiretag \
    && useradd --system --uid 10001 --gid wiretag --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin wiretag \
    && mkdir /data \
    && chown wiretag:wiretag /data

WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY gunicorn.conf.py feeds.opml ./

# Numeric, so that runtimes checking runAsNonRoot (Kubernetes) can verify it is not root.
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000

# No curl in the slim image: ask /healthz with the standard library, on the port of
# WIRETAG_BIND.  The poller runs from this image too and serves no HTTP: compose.yaml
# turns this check off for it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('WIRETAG_BIND', '127.0.0.1:8000').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "service:create_app()"]
