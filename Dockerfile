# byok-bot as a container: the wheel built from this tree, run as a non-root user, its
# database in the /data volume and its settings from the environment (or an env file).
# Not built in the project's CI (its machines cannot run Docker); tests/test_packaging.py
# checks every byok-bot command and flag used here against the CLI.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY requirements/ requirements/
COPY app/ app/
COPY bot/ bot/
COPY adapters/ adapters/
COPY storage/ storage/
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
    && python -m pip wheel --wheel-dir /wheels -r requirements/run.lock

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin byok \
    && mkdir -p /data && chown byok /data && chmod 0700 /data
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index --find-links /wheels byok-bot \
    && rm -rf /wheels
USER byok
WORKDIR /data
ENV DATABASE_URL=sqlite:////data/byok-bot.sqlite3 \
    BYOK_HTTP_PORT=3000 \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 3000
# docker stop sends this; byok-bot then lets answers in flight finish (BYOK_SHUTDOWN_GRACE).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('BYOK_HTTP_PORT', '3000')}/healthz\", timeout=4)"]
ENTRYPOINT ["byok-bot"]
CMD ["run"]
