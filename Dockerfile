FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ats ./ats
COPY api ./api
COPY storage ./storage
COPY exports ./exports
RUN pip install --no-cache-dir . && useradd --system ats
USER ats
ENV ATS_HOST=0.0.0.0 ATS_PORT=8000 ATS_DEMO_ACCOUNT=false
EXPOSE 8000
CMD ["ats", "run"]
