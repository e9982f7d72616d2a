# The two commands: `make up` runs the whole datalab on this machine; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
# Test modules run in parallel, a module per worker (--dist loadfile keeps a module's shared stack in one
# process): most tests wait on real services starting, so 4 workers fit 2 cores. PYTEST_WORKERS=0: serial.
PYTEST_WORKERS ?= 4
XDIST = -n $(PYTEST_WORKERS) --dist loadfile
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: up test test-z2jh test-labextension labextension lint bootstrap clean

up:
	@scripts/bootstrap.sh up
	@$(VENV)/bin/datalab up

# The z2jh suite runs beside the main one (both mostly wait on services), its output kept in a log that is
# printed when the main suite is done; the exit status says whether either failed.
Z2JH_LOG := .z2jh-test.log
test:
	@scripts/bootstrap.sh test
	@scripts/bootstrap.sh z2jh
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory test-labextension
	@DATALAB_TEST_PORT_SLICES=8 $(MAKE) --no-print-directory test-z2jh PYTEST_WORKERS=2 > $(Z2JH_LOG) 2>&1 & z2jh=$$!; \
	$(VENV)/bin/python -m pytest $(XDIST) $(PYTEST_ARGS); main=$$?; \
	wait $$z2jh; z2=$$?; \
	echo "== the same tests on the chart's versions (make test-z2jh) =="; cat $(Z2JH_LOG); \
	echo "== main suite: exit $$main; z2jh suite: exit $$z2 =="; \
	[ $$main -eq 0 ] && [ $$z2 -eq 0 ]

# The spawner, hub and helm tests again, end-to-end ones included, with the versions the chart 4.4.0 hub image
# ships (.venv-z2jh: JupyterHub 5.5, KubeSpawner 7.0, OAuthenticator 17.4): launch links, organiser pages,
# sharing, capacity, window end, the Kubernetes end-to-end test and the chart-configured hub. Left out: the
# one-machine backend and stack (not what the chart runs; also test_ways_in's local half) and the two
# Playwright modules (they drive the same pages, checked through HTTP here; a browser per version adds minutes).
test-z2jh:
	@scripts/bootstrap.sh z2jh
	@PATH=$(CURDIR)/.venv-z2jh/bin:$$PATH .venv-z2jh/bin/python -m pytest -p no:cacheprovider $(XDIST) \
		tests/helm tests/spawner tests/hub --ignore=tests/spawner/local --ignore=tests/hub/stack \
		--ignore=tests/hub/pages/test_browser.py --ignore=tests/hub/pages/test_catalog_browser.py \
		-k "not (test_ways_in and local)" $(Z2JH_PYTEST_ARGS)

# The JupyterLab extension's own unit tests (node:test on its pure model); bootstrap built it already.
test-labextension:
	@cd labextension && npm test --silent

# The .venv, npm packages and the built JupyterLab extension only (what a wheel with the extension needs).
labextension:
	@scripts/bootstrap.sh labextension

lint:
	@$(VENV)/bin/ruff check hub spawner jupyter_s3_ext tests benchmarks
	@$(VENV)/bin/ruff format --check hub spawner jupyter_s3_ext tests benchmarks

clean:
	rm -rf $(VENV) node_modules hub/idp/node_modules labextension/node_modules labextension/lib \
		labextension/build-test jupyter_s3_ext/labextension
