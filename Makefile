# The two commands: `make up` runs the whole datalab on this machine; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: up test lint bootstrap clean

up:
	@scripts/bootstrap.sh up
	@$(VENV)/bin/datalab up

test:
	@scripts/bootstrap.sh test
	@$(MAKE) --no-print-directory lint
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint:
	@$(VENV)/bin/ruff check hub spawner jupyter_s3_ext tests benchmarks
	@$(VENV)/bin/ruff format --check hub spawner jupyter_s3_ext tests benchmarks

clean:
	rm -rf $(VENV) node_modules hub/idp/node_modules
