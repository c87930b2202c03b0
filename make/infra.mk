# Infrastructure targets (included by the Makefile, which defines VENV, PY, $(VENV)/.installed and
# node_modules/.installed). Nothing here needs AWS credentials or Docker.
.PHONY: assets synth test-infra cfn-lint infra-figures ddb-actions

ASSETS_DIR := build/assets
CDK := npx --no-install cdk
export CDK_HOME := $(CURDIR)/build/cdk-home

# Lambda code (functions/ + shared/litemx) and the zipped dependency layer for Python 3.12 arm64.
# The layer is rebuilt only when infra/lambda-requirements.lock changes; re-lock with
# `$(PY) scripts/build_assets.py --lock`.
assets: $(VENV)/.installed
	$(PY) scripts/build_assets.py --out $(ASSETS_DIR)

# A reused cdk.out keeps stale asset folders: always start clean. cdk-nag runs in every synth and
# fails it on any unacknowledged finding.
synth: assets node_modules/.installed
	rm -rf cdk.out
	$(CDK) synth -q

test-infra: $(VENV)/.installed
	$(PY) -m pytest tests/infra -q

cfn-lint: synth
	$(VENV)/bin/cfn-lint --non-zero-exit-code error cdk.out/*.template.json

# Figures for issue notes: clean synth time, asset sizes, resource count.
infra-figures: assets node_modules/.installed
	rm -rf cdk.out
	@start=$$(date +%s.%N); $(CDK) synth -q; end=$$(date +%s.%N); \
	  echo "synth: $$(echo "$$end - $$start" | bc) s"
	@$(PY) -c 'import json,glob; t=json.load(open(glob.glob("cdk.out/*.template.json")[0])); \
	  print("resources:", len(t["Resources"]), "outputs:", len(t.get("Outputs", {})))'
	@cat $(ASSETS_DIR)/figures.json

# Which DynamoDB actions each handler's code performs on which table, recorded while the integration tests
# drive the real handlers (tests/ddb_recorder.py), then compared with the table the stack grants
# (infra/constructs/access.py, pinned by tests/infra/test_least_privilege.py).
ddb-actions: $(VENV)/.installed
	LITEMX_DDB_ACTIONS=build/ddb-actions.json scripts/netns $(PY) -m pytest -p tests.ddb_recorder tests/integration -q
	LITEMX_DDB_ACTIONS=build/ddb-actions.json $(PY) -m pytest tests/infra/test_least_privilege.py -q
