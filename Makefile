# The two quick-start commands are `make run` and `make test`; both install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
SITE_PORT ?= 5050

.PHONY: run test lint unit bench fuzz screenshots translations system-deps install clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-app: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.installed-app

install: $(VENV)/.installed-dev

## Run the app at http://127.0.0.1:$(PORT) with the embedded MusicAPI simulator (no account needed),
## and beside it, at http://127.0.0.1:$(SITE_PORT), an example of your own site using it through connect.js.
run: $(VENV)/.installed-app
	@$(BIN)/python examples/your-site/serve.py --port $(SITE_PORT) --app http://127.0.0.1:$(PORT) & \
	trap 'kill $$!' EXIT INT TERM; \
	MUSICAPI_SIMULATOR=1 ALLOWED_ORIGINS=http://127.0.0.1:$(SITE_PORT) PORT=$(PORT) PATH="$(abspath $(BIN)):$$PATH" \
		$(BIN)/gunicorn --config gunicorn.conf.py callback_app.wsgi:app

## Everything CI runs: system packages, lint, types, security lint, and every test.
test: system-deps $(VENV)/.installed-dev lint
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -n 2 --dist loadfile

system-deps:
	scripts/install-system-deps

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/bandit --quiet -c pyproject.toml -r callback_app gunicorn.conf.py

## Property-based fuzzing at full strength (thousands of examples); not part of `make test`.
fuzz: $(VENV)/.installed-dev
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/security -k fuzz -p no:xdist

## Rewrite the README's screenshots (docs/screenshots) from the browser tests; test runs leave them alone.
screenshots: system-deps $(VENV)/.installed-dev
	UPDATE_README_SCREENSHOTS=1 PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -p no:xdist \
		tests/browser/test_languages.py::test_the_start_page_with_two_accounts_in_english_german_and_arabic

## Benchmarks (not part of `make test`): bursts, throughput, costs, footprint vs a naive peer; ~4-5 minutes.
## SOAK=300 runs the full 5-minute sustained phase.
bench: system-deps $(VENV)/.installed-dev
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m bench --soak $(or $(SOAK),60)

## After changing a text in a template: refresh translations/messages.pot and every catalog (then translate).
translations: $(VENV)/.installed-dev
	$(BIN)/pybabel -q extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 --no-location --sort-output --omit-header --width 100 \
		-o translations/messages.pot .
	$(BIN)/pybabel -q update -i translations/messages.pot -d translations --width 100 --ignore-obsolete \
		--no-fuzzy-matching

clean:
	rm -rf $(VENV) .venv-httpobs artifacts
