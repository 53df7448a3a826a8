# blogbot in a container: `blogbot run` with the data dir on a volume.
# Build: docker build -t blogbot .   Run: docker run -v blogbot-data:/data -v $PWD/config.yaml:/app/config.yaml blogbot
FROM python:3.11-slim-bookworm

# Debian's Chromium (Playwright drives it through executable_path) and Korean fonts for the editors.
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-noto-cjk tini \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BLOGBOT_CONFIG=/app/config.yaml \
    BLOGBOT_DATA_DIR=/data

WORKDIR /app
COPY requirements.txt ./
# torch first and pinned (CPU wheel index), so nothing pulls a CUDA build of several GB.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install torch==2.13.0 -r requirements.txt

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY jobs ./jobs
COPY platforms ./platforms
COPY config.yaml topics.yaml ./
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 blogbot \
    && mkdir -p /data \
    && chown blogbot:blogbot /data /app/topics.yaml

USER 10001
VOLUME ["/data"]
HEALTHCHECK --interval=10m --timeout=60s --start-period=5m CMD ["blogbot", "status", "--check"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["blogbot", "run"]
