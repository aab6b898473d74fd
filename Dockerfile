# The example services of examples/ (and any tchu service of this repository), for docker compose.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tchu ./tchu
COPY codegen ./codegen
RUN pip install --no-cache-dir -e ".[codegen,django]"
COPY schemas ./schemas
COPY generated ./generated
COPY examples ./examples
ENV PYTHONUNBUFFERED=1
