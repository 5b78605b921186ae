# Serves both plain Docker and a Hugging Face Docker Space (which runs containers as UID 1000).
# CI checks this recipe without a Docker engine (tests/deploy/test_deploy_docker.py): it copies what the
# COPY lines name, installs requirements.txt into a fresh venv and runs the CMD as UID 1000 with
# this ENV, then lints the file with hadolint.
FROM python:3.12-slim

RUN useradd --create-home --uid 1000 user
USER 1000
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860
WORKDIR /home/user/app

COPY --chown=1000 requirements.txt .
RUN pip install --no-cache-dir --user -r requirements.txt
# No key is baked in: pass them at run time (docker run --env-file .env ...) or as Space secrets.
COPY --chown=1000 app.py ./
COPY --chown=1000 words ./words
COPY --chown=1000 errors ./errors
COPY --chown=1000 config ./config
COPY --chown=1000 providers ./providers
COPY --chown=1000 web ./web
COPY --chown=1000 conversation ./conversation
COPY --chown=1000 startup ./startup
COPY --chown=1000 ui ./ui

EXPOSE 7860
CMD ["python", "app.py"]
