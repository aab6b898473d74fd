# One place for the project's commands; CI and contributors call the same scripts.
.PHONY: demo test lint typecheck format

demo:
	scripts/demo

test:
	scripts/test

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck:
	.venv/bin/mypy

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .
