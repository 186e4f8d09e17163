# ecs-reboot-bot: a small runtime image (python:3.11 slim, no compiler, non-root).
#
#   docker build -t ecs-reboot-bot .
#   docker run --env-file .env -p 3000:3000 ecs-reboot-bot              # serve --migrate
#   docker run --env-file .env ecs-reboot-bot poller                    # another command
#   docker run --rm ecs-reboot-bot manifest --url https://bot.example.com
#
# Stage 1 builds wheels for the bot and every dependency and installs them into a
# virtualenv; stage 2 copies only that virtualenv. Bump both FROM tags together.

FROM python:3.11.13-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
# pyproject.toml ships the Alembic scripts inside the wheel, as the package bot.migrations.
COPY migrations ./migrations

# Every dependency ships manylinux wheels (psycopg[binary] included): no compiler.
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-index /wheels/*.whl


FROM python:3.11.13-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="ecs-reboot-bot" \
      org.opencontainers.image.description="Slack chat-ops bot that reboots Alibaba Cloud ECS instances safely"

# A fixed numeric uid/gid, so that Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 ecsbot \
    && useradd --system --uid 10001 --gid ecsbot --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin ecsbot \
    && install --directory --owner ecsbot --group ecsbot /app

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    ECSBOT_LOG_FORMAT=json

# The working directory is the only writable place the bot needs (the default SQLite
# file, when ECSBOT_DATABASE_URL is not set).
WORKDIR /app
USER 10001:10001

EXPOSE 3000

# slim has no curl: python's urllib fails (exit 1) on a refused connection or a 503.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

# Exec form: the bot is PID 1 and gets SIGTERM itself (it stops serving, lets the
# running jobs finish and exits 0).
ENTRYPOINT ["ecs-reboot-bot"]
CMD ["serve", "--migrate"]
