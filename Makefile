# The two commands: `make run` and `make test`. Both set everything up from a fresh clone
# (a virtual environment with Python 3.11; Chromium from apt for the browser tests).
# `make run` behaves like production (DEBUG off, gunicorn, WhiteNoise's static files);
# `make dev` is the same platform with DEBUG on and Django's reloading development server.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)/platform:$(CURDIR)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run dev test fuzz lint typecheck bench chromium system-packages messages clean \
	default-models full-model

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[worker,local,dev]"
	touch $@

install: $(STAMP)

run: install
	$(BIN)/python manage.py runlocal

dev: install
	DEBUG=1 $(BIN)/python manage.py runlocal

# Debian packages the tests need: Chromium for the browser tests (Playwright cannot download
# browsers here) and gettext (xgettext, msgfmt) for the translation catalog tests. `make run`
# needs neither: the compiled catalog (locale/*/LC_MESSAGES/django.mo) is committed.
system-packages:
	@test -x /usr/bin/chromium -a -x /usr/bin/msgfmt -a -x /usr/bin/xgettext || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
			chromium gettext; }

chromium: system-packages

# After changing user-visible text: refresh the catalog, translate the new entries in
# locale/zh_Hans/LC_MESSAGES/django.po, then `make messages` again to compile it.
messages: install system-packages
	$(BIN)/python manage.py makemessages -l zh_Hans
	$(BIN)/python manage.py compilemessages -l zh_Hans

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy platform apps workers

test: install system-packages lint typecheck
	$(BIN)/pytest

# Schemathesis over the whole OpenAPI schema, deeper than `make test`'s run of the same test
# (FUZZ_EXAMPLES requests per operation; FUZZ_SEED picks another sample).
fuzz: install
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-50} $(BIN)/pytest tests/api/test_openapi_fuzz.py -q --timeout=0

bench: install
	$(BIN)/python bench/run.py

# The default models shipped in models/shipped (README: their figures; seed 0, ~40 min here).
default-models: install
	$(BIN)/python manage.py train_default_model finance_sentiment --recipe shipped \
		--output models/shipped/finance_sentiment
	$(BIN)/python manage.py train_default_model support_bot --recipe shipped \
		--output models/shipped/support_bot

# The full fine-tune of the finance default (macro-F1 0.84, ~30 min, 90 MB), installed in
# models/finance_sentiment, where it wins over the shipped one.
full-model: install
	$(BIN)/python manage.py train_default_model finance_sentiment

clean:
	rm -rf $(VENV) .data staticfiles .pytest_cache .mypy_cache .ruff_cache
