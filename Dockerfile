# One image for every role of the LRS: the web process (this CMD), and, with the commands in
# docker-compose.yml, `migrate` (python manage.py migrate), the Celery worker and Celery beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LRS_ENV=production
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY lrs ./lrs
COPY adapters ./adapters
COPY manage.py ./
RUN pip install --no-cache-dir . && useradd --system --uid 1000 lrs
# collectstatic needs settings that import cleanly; these values exist only at build time.
RUN SECRET_KEY=build-only-build-only-build-only-build-only ALLOWED_HOSTS=build \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 python manage.py collectstatic --noinput
USER lrs
EXPOSE 8000
# Bind 0.0.0.0:8000, 4 workers, access log on stdout: config/gunicorn.py (GUNICORN_* variables tune it).
CMD ["gunicorn", "-c", "python:config.gunicorn", "config.wsgi"]
