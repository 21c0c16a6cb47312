# `make run` and `make test` work on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DAPHNE_ARGS := -e tcp:port=$(PORT):interface=127.0.0.1:backlog=4096 \
	--websocket-max-message-size 16384 --websocket-max-frame-size 16384 --websocket_connect_timeout 30

.PHONY: run test test-fast test-shapes test-matrix bench bench-quick lint dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-deps: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

# The demo's own secret key, made once on this machine (never committed).
$(VENV)/secret_key: | $(BIN)/python
	$(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" > $@

## Serve the demo on http://127.0.0.1:$(PORT) with SQLite and the in-memory layer.
run: $(VENV)/.run-deps $(VENV)/secret_key
	$(BIN)/python manage.py migrate --noinput
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-$$(cat $(VENV)/secret_key)} $(BIN)/python manage.py seed_demo
	@echo "Serving the demo on http://127.0.0.1:$(PORT)/ (alice, bob, carol, admin; password: demo)"
	DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-$$(cat $(VENV)/secret_key)} $(BIN)/daphne $(DAPHNE_ARGS) project.asgi:application

## The whole suite: first on SQLite with the in-memory layer, then on
## PostgreSQL with the Redis layer. Outside CI a missing service is skipped
## with a message; with CI=true it fails.
test: $(VENV)/.test-deps
	$(BIN)/python -m pytest -n auto tests/unit $(PYTEST_ARGS)
	$(BIN)/python -m pytest tests/system $(PYTEST_ARGS)
	DATABASE_URL=$${TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(BIN)/python -m pytest -n auto tests/unit $(PYTEST_ARGS)
	DATABASE_URL=$${TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(BIN)/python -m pytest -m "not browser and not packaging and not conformance" tests/system $(PYTEST_ARGS)
	$(MAKE) test-shapes

## The in-process tests (tests/unit/), in under a minute on two cores
## (pytest-xdist, a worker per core): no daphne, browser, Redis or PostgreSQL.
## `make test` runs them with tests/system/.
test-fast: $(VENV)/.test-deps
	$(BIN)/python -m pytest -q -n auto tests/unit $(PYTEST_ARGS)

## The tests of sockets, hello, sync, announcements, chat, mentions, email and preferences on
## the site shapes of tests/shapes (SITE_SHAPE): a user model named accounts.Member; one without
## PermissionsMixin, with email login and UUID keys (also on PostgreSQL and Redis); a swapped
## notification model. `make test` runs them after the demo's shape.
SHAPE_TESTS := tests/unit/test_site_shapes.py tests/unit/test_send_contract.py tests/unit/test_consumers.py \
	tests/unit/test_announcements.py tests/unit/test_chat_consumers.py tests/unit/test_chat_services.py tests/unit/test_chat_views.py \
	tests/unit/test_channels_email.py tests/unit/test_channels_preferences.py tests/unit/test_auth.py tests/unit/test_views.py \
	tests/unit/test_api.py tests/unit/test_storm.py tests/system/test_site_shapes.py tests/system/test_channels_preferences.py
test-shapes: $(VENV)/.test-deps
	for shape in member person swapped; do \
		SITE_SHAPE=$$shape $(BIN)/python -m pytest -q $(SHAPE_TESTS) $(PYTEST_ARGS) || exit 1; \
	done
	SITE_SHAPE=person DATABASE_URL=$${TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(BIN)/python -m pytest -q $(SHAPE_TESTS) $(PYTEST_ARGS)

## Python 3.11-3.13 x Django 5.2 and 6.1, every dependency at its lowest supported version, and the
## newest daphne, autobahn and Twisted under the daphne_compat tests (noxfile.py).
test-matrix: $(VENV)/.test-deps
	$(BIN)/nox -s tests oldest newest_servers

## Benchmarks against the raw and tutorial baselines (needs Redis; empties the database of
## BENCH_REDIS_URL or REDIS_URL, default redis://127.0.0.1:6379/2), then docs/benchmarks.md from
## bench/results/. A scenario that fails still leaves the others and the report; the report exits
## non-zero if a target is missed.
bench: $(VENV)/.test-deps
	-$(BIN)/python bench/fanout.py --users 1000 5000 --processes 1 2 --rounds 5
	-$(BIN)/python bench/sse.py --users 2000 --processes 2 --rounds 3
	-$(BIN)/python bench/chat.py --members 200 --senders 50 --rate 10 --seconds 20 --processes 2
	-$(BIN)/python bench/personal.py --users 2000 --processes 2 --rate 200 --seconds 10
	-$(BIN)/python bench/personal.py --users 10000 --processes 2 --rate 200 --seconds 10 --runs 5
	-$(BIN)/python bench/storm.py --users 5000 --processes 2 --spread 10
	-$(BIN)/python bench/bulk.py --users 10000 --connected 2000 --processes 2 --rounds 3
	-$(BIN)/python bench/idle.py --users 10000 --processes 2 --seconds 60
	-$(BIN)/python bench/abuse.py
	-$(BIN)/python bench/compat.py --users 5000 --processes 2 --passes 3
	-$(BIN)/python bench/crossprocess.py --users 20 --rate 5 --seconds 10
	-BENCH_DATABASE_URL=$${BENCH_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/bench} \
	$(BIN)/python bench/crossprocess.py --users 20 --rate 5 --seconds 10
	-$(BIN)/python bench/grouping.py --notifications 100000 --groups 1000 --users 10000 --connected 2000 --processes 2 --rounds 3
	-$(BIN)/python bench/deliver.py --deliveries 10000 --batch 100 --rounds 3
	-$(BIN)/python bench/balanced.py --users 20000 --processes 8 --rounds 3 --rate 100 --seconds 10
	$(BIN)/python bench/report.py

## A few seconds per scenario at 1,000 users; fails if a frame was lost. CI runs it as a smoke test.
bench-quick: $(VENV)/.test-deps
	BENCH_RESULTS=bench/results/quick $(BIN)/python bench/fanout.py --users 1000 --processes 1 --rounds 2
	BENCH_RESULTS=bench/results/quick $(BIN)/python bench/sse.py --users 200 --processes 2 --rounds 1 --no-memory
	BENCH_RESULTS=bench/results/quick $(BIN)/python bench/chat.py --members 200 --senders 50 --rate 10 --seconds 5 --processes 2
	BENCH_RESULTS=bench/results/quick $(BIN)/python bench/personal.py --users 1000 --processes 2 --rate 100 --seconds 3
	BENCH_RESULTS=bench/results/quick $(BIN)/python bench/bulk.py --users 2000 --connected 500 --processes 2 --rounds 1
	BENCH_RESULTS=bench/results/quick $(BIN)/python bench/idle.py --users 1000 --processes 2 --seconds 10 --poll-seconds 5
	BENCH_RESULTS=bench/results/quick $(BIN)/python bench/crossprocess.py --users 20 --rate 5 --seconds 4
	BENCH_RESULTS=bench/results/quick $(BIN)/python bench/deliver.py --deliveries 1000 --batch 100 --rounds 1

lint: $(VENV)/.test-deps
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run

## The two wheels: django-notifications-live (notifications) and
## django-notifications-live-chat (chat/pyproject.toml), in dist/.
dist: | $(BIN)/python
	rm -rf build chat/build  # setuptools would pack what an earlier build left there
	$(BIN)/pip wheel --quiet --no-deps -w dist . ./chat
	rm -rf build chat/build *.egg-info chat/*.egg-info

clean:
	rm -rf $(VENV) db.sqlite3 tests/artifacts .pytest_cache
