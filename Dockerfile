# The worker image: `docker compose up` (see docker-compose.yml) runs three of it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies and package first; every dependency ships a manylinux wheel,
# so no compiler is needed.
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip install .

# Defaults baked in; compose mounts the host's copies over them read-only.
COPY templates ./templates
COPY watchlists ./watchlists

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin monitor \
    && mkdir -p /app/digests /app/data \
    && chown monitor:monitor /app/digests /app/data
USER monitor

ENV MONITOR_WATCHLISTS=/app/watchlists \
    MONITOR_TEMPLATES=/app/templates \
    MONITOR_OUTPUT_DIR=/app/digests

# SIGTERM lets running jobs finish, then the service exits 0.
STOPSIGNAL SIGTERM
CMD ["monitor", "run"]
