# The production image: API (`valueverse serve`) by default, the worker with `valueverse worker`.
# Settings come from the environment (see .env.example); docker-compose.yml runs the whole stack.

# The portals and GraphiQL (frontend/): a Next.js static export, built here and copied into the image below,
# so the running image needs no Node.js.
FROM node:20-slim AS frontend
WORKDIR /build/frontend
COPY frontend/package.json frontend/package-lock.json frontend/.npmrc ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY schema.graphql /build/schema.graphql
COPY frontend ./
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY domain ./domain
COPY db ./db
COPY services ./services
COPY integrations ./integrations
COPY graph ./graph
COPY workers ./workers
COPY valueverse ./valueverse
RUN pip install --no-deps . && rm -rf build ./*.egg-info
COPY --from=frontend /build/frontend/out ./frontend/out
ENV FRONTEND_DIR=/app/frontend/out

# Never run as root. DATA_DIR holds a generated SECRET_KEY when none is given (and embedded
# servers when no DATABASE_URL/REDIS_URL is given); it is the one place the process writes.
RUN useradd --system --create-home --uid 10001 valueverse \
    && mkdir -p /var/lib/valueverse \
    && chown valueverse:valueverse /var/lib/valueverse
ENV DATA_DIR=/var/lib/valueverse
USER valueverse

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/readyz\"; sys.exit(urllib.request.urlopen(url, timeout=4).status != 200)"]

# Migrations run at start-up of `serve`; SIGTERM (docker stop) shuts down gracefully with exit 0.
CMD ["valueverse", "serve", "--host", "0.0.0.0", "--no-worker"]
