.PHONY: setup run test
setup:
	bash scripts/setup_env.sh
run: setup
	.venv/bin/python scripts/finetune.py locnet
test: setup
	bash scripts/test.sh
