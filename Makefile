# The README's commands. `make test` is what CI runs.
GO ?= go

.PHONY: test vet build dev fuzz bench screenshots soak

test: vet
	$(GO) test -race -count=1 -timeout 25m ./...

vet:
	$(GO) vet ./...

build:
	$(GO) build -o bin/forged ./cmd/forged

dev:
	$(GO) run ./cmd/forged dev

# Each fuzz target for 30s; seed corpora already run in `make test`.
fuzz:
	$(GO) test -run=^$$ -fuzz=FuzzParse -fuzztime=30s ./dag
	$(GO) test -run=^$$ -fuzz=FuzzDecode -fuzztime=30s ./consensus
	$(GO) test -run=^$$ -fuzz=FuzzExprParse -fuzztime=30s ./ops/expr
	$(GO) test -run=^$$ -fuzz=FuzzReadCSV -fuzztime=30s ./ops
	$(GO) test -run=^$$ -fuzz=FuzzReadArrow -fuzztime=30s ./ops
	$(GO) test -run=^$$ -fuzz=FuzzDecodeArrow -fuzztime=30s ./dataplane
	$(GO) test -run=^$$ -fuzz=FuzzIPCGuard -fuzztime=30s ./dataplane
	$(GO) test -run=^$$ -fuzz=FuzzDecodeInstances -fuzztime=30s ./api
	$(GO) test -run=^$$ -fuzz=FuzzLoadForged -fuzztime=30s ./model
	$(GO) test -run=^$$ -fuzz=FuzzLoadXGBoost -fuzztime=30s ./model
	$(GO) test -run=^$$ -fuzz=FuzzLoadLightGBM -fuzztime=30s ./model

bench:
	$(GO) test -run=^$$ -bench=. -benchmem ./...

# Full-page PNGs of the web UI's pages, taken by the browser tests
# (headless Chromium) on a 3-node cluster running the examples.
screenshots:
	FORGED_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestBrowserScreenshots$$' -v ./e2e/

# The fault-tolerance soak: continuous submissions to a 3-node cluster
# under random kill -9 and restarts for SOAK (a Go duration), then the
# invariant report. SOAK_SEED=N replays a soak's choices.
SOAK ?= 10m
soak:
	FORGED_SOAK=$(SOAK) FORGED_SOAK_SEED=$(SOAK_SEED) $(GO) test -race -count=1 -timeout 0 -run '^TestSoak' -v ./e2e/
