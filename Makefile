# `make demo`: set up .venv and run the main job on the bundled seed articles: predict with the shipped
# default model, then train, evaluate and predict with a model of the seeds alone.
# `make test`: set up .venv and run the test suite (what CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO := var/demo

.PHONY: install chromium demo default-model test lock clean

# constraints.txt pins every package to versions seen working together (`make lock` refreshes it);
# it also spares pip a long dependency resolution.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) chromium

# tests/test_studio_browser.py drives Debian's chromium (never a downloaded browser): installed here
# when missing and we are root; without it that test is skipped with the reason.
chromium:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } || \
		echo "chromium could not be installed: the browser test will be skipped"

demo: install
	rm -rf $(DEMO)
	$(BIN)/vner corpus ingest corpus/data/seeds --store $(DEMO)/corpus.jsonl
	$(BIN)/vner corpus stats $(DEMO)/corpus.jsonl corpus/data/seeds.gold.jsonl
	$(BIN)/vner predict corpus/data/seeds/002_8a01c9bd02073a02.txt --format table
	$(BIN)/vner corpus split corpus/data/seeds.gold.jsonl --out-dir $(DEMO) --dev-fraction 0.2
	$(BIN)/vner train --engine spacy --train $(DEMO)/train.jsonl --dev $(DEMO)/dev.jsonl --out $(DEMO)/model \
		--max-epochs 10 --spacy-set training.batcher.size.start=100 --spacy-set training.batcher.size.stop=300 \
		--promote never
	$(BIN)/vner evaluate --model $(DEMO)/model --data $(DEMO)/dev.jsonl
	$(BIN)/vner predict --model $(DEMO)/model $(DEMO)/dev.jsonl

# The model shipped in models/data/default-model (spaCy, all of ../shared/gold; see training/default_model.py).
default-model: install
	$(BIN)/python -m training.default_model

# `make test` lints everything, checks the formatting of the files already formatted (FORMATTED;
# `ruff format` a file before adding it) and the types of corpus/ and models/, then runs the tests.
FORMATTED := corpus models/rules models/card.py models/batch.py models/batch_bench.py models/batch_input.py \
	models/batch_output.py models/dask_runner.py models/service.py models/service_bench.py models/workers.py \
	tests/test_card.py tests/test_cli_errors.py tests/test_dependencies.py tests/test_gold.py \
	tests/test_ingest.py tests/test_label_curve.py tests/test_rules_engine.py tests/test_service.py tests/test_text.py \
	training/label_curve.py

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check $(FORMATTED)
	$(BIN)/mypy
	$(BIN)/pytest

lock: install
	$(BIN)/pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf $(VENV) var
