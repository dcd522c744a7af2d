# The README's commands. `make test` is what CI runs.
GO ?= go

.PHONY: test vet build dev fuzz bench

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
	$(GO) test -run=^$$ -fuzz=FuzzDecodeInstances -fuzztime=30s ./api
	$(GO) test -run=^$$ -fuzz=FuzzLoadForged -fuzztime=30s ./model
	$(GO) test -run=^$$ -fuzz=FuzzLoadXGBoost -fuzztime=30s ./model
	$(GO) test -run=^$$ -fuzz=FuzzLoadLightGBM -fuzztime=30s ./model

bench:
	$(GO) test -run=^$$ -bench=. -benchmem ./...
