# PhotoGate developer commands. Everything installs from this repository's own files.
#   make run    set up and run the portal with the demo school (embedded default)
#   make test   set up and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard app/translations/*/LC_MESSAGES/messages.po))
PORT ?= 5000

.PHONY: install run test check lint typecheck migrations-check browser translations clean

install: $(STAMP) $(CATALOGUES) idp/node_modules/.package-lock.json

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The local OpenID provider used by the demo families and by the login tests.
idp/node_modules/.package-lock.json: idp/package-lock.json
	npm ci --prefix idp --no-audit --no-fund --loglevel=error
	touch $@

# Message catalogues are build output: compiled from the reviewed .po sources.
app/translations/%/LC_MESSAGES/messages.mo: app/translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@

translations: $(STAMP)
	$(BIN)/pybabel extract -F app/translations/babel.cfg -k _l -k lazy_gettext \
		-o app/translations/messages.pot --no-location --omit-header .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations

run: install
	$(BIN)/photogate db upgrade
	$(BIN)/photogate demo
	PHOTOGATE_PUBLIC_URL=$${PHOTOGATE_PUBLIC_URL:-http://127.0.0.1:$(PORT)} $(BIN)/photogate serve --port $(PORT)

# Debian's Chromium drives the browser tests (Playwright cannot download browsers here);
# the IPA Gothic font draws Japanese in the pages and in the preview's viewer mark.
browser:
	@{ command -v chromium >/dev/null 2>&1 && [ -f /usr/share/fonts/opentype/ipafont-gothic/ipag.ttf ]; } || { \
		echo "installing Debian's chromium and a Japanese font for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic >/dev/null; }

test: install browser
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check $(wildcard app tests bench migrations setup.py)
	$(BIN)/ruff format --check $(wildcard app tests bench migrations setup.py)

typecheck: install
	$(BIN)/mypy --strict app

# Applies every migration to PHOTOGATE_DATABASE_URL and fails if models and schema differ.
migrations-check: install
	$(BIN)/alembic upgrade head
	$(BIN)/alembic check

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(CATALOGUES) idp/node_modules
