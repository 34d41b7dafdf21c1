# Deputy: one image for `deputy serve` and `deputy migrate`. No configuration or secret is baked in: mount the
# configuration file at /etc/deputy/deputy.toml and give secrets as files or environment variables at run time
# (see deploy/compose.yaml and docs/deployment.md).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install ".[postgres]"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 deputy \
    && useradd --system --uid 10001 --gid deputy --home-dir /var/lib/deputy --create-home --shell /usr/sbin/nologin deputy
COPY --from=build /install /usr/local
USER deputy
WORKDIR /var/lib/deputy
EXPOSE 8000
# Liveness only (no database): an outage of PostgreSQL must not get every container restarted. The port is the
# one `server.port` is set to in the mounted configuration.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["deputy"]
CMD ["serve", "--config", "/etc/deputy/deputy.toml"]
