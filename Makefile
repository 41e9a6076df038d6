# Front door: `make run` and `make test` work on a fresh Debian 12 machine.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test run asan clean model

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

model:
	@scripts/fetch-model.sh all >/dev/null

test: build model
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# AddressSanitizer + UBSan: the unit tests with leak detection; then the device, model, CLI, serve and
# example tests on PoCL without it (LeakSanitizer reports allocations of the OpenCL drivers
# themselves, rusticl's ICD set-up and PoCL's compiled kernels, which are not ours). rusticl
# (minutes per model test under ASan) and the fuzzers (sanitized already) are left out.
asan: deps model
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DCLGRAPH_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -L unit -j $(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -L 'ops|model|cli|serve' \
	    -E 'rusticl|fuzz|spirv|install' -j $(JOBS)

# The main job: answer a question with SmolLM2-135M-Instruct (fetched once into
# ~/.cache/clgraph, checksum verified). Any GGUF: make run MODEL=path PROMPT="...".
MODEL ?= $(HOME)/.cache/clgraph/SmolLM2-135M-Instruct.Q4_1.gguf
PROMPT ?= What are three facts about the planet Mars?
run: build model
	./$(BUILD)/clgraph run -m "$(MODEL)" --chat -p "$(PROMPT)" -n 200 --temp 0

clean:
	rm -rf $(BUILD) $(BUILD)-asan
