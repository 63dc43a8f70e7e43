# Thin wrapper over CMake: `make run` and `make test` are the two commands of the README.
BUILD ?= build
BUILD_ASAN ?= build-asan
BUILD_TSAN ?= build-tsan
CONFIG ?= etc/ttrelay.conf
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr

.PHONY: all deps run test test-asan test-tsan bench fuzz sim install clean

all: $(BUILD)/ttrelayd

deps:
	@scripts/deps.sh build

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX)

$(BUILD)/ttrelayd: deps $(BUILD)/Makefile FORCE
	cmake --build $(BUILD) -j $(JOBS)

FORCE:

run: $(BUILD)/ttrelayd
	@mkdir -p var
	$(BUILD)/ttrelayd -c $(CONFIG)

test:
	@scripts/deps.sh test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j 2
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DTTR_SANITIZE=ON
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j 2
	cmake -S . -B $(BUILD_TSAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTR_TSAN=ON
	cmake --build $(BUILD_TSAN) -j $(JOBS)
	cd $(BUILD_TSAN) && ctest --output-on-failure -j 2
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DTTR_FUZZ=ON -DTTR_FUZZ_SECONDS=10 -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-fuzz --target fuzzers -j $(JOBS)
	cd build-fuzz && ctest -L fuzz --output-on-failure -j 2

# The ThreadSanitizer stage of `make test` alone: unit tests and test_delivery.
test-tsan:
	cmake -S . -B $(BUILD_TSAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTR_TSAN=ON
	cmake --build $(BUILD_TSAN) -j $(JOBS)
	cd $(BUILD_TSAN) && ctest --output-on-failure -j 2

bench:
	@scripts/deps.sh bench
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)
	bench/run.sh $(BUILD) $(BENCH_ARGS)

# The shopper simulation (tests/sim): 1,000 shoppers through the real daemon, then the table.
SIM_ARGS ?= --seed 1 --shoppers 1000
sim: $(BUILD)/ttrelayd
	TTRELAYD=$(BUILD)/ttrelayd python3 tests/sim/sim.py $(SIM_ARGS)

fuzz:
	@scripts/deps.sh test
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DTTR_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS)
	tests/fuzz/run.sh build-fuzz $${FUZZ_SECONDS:-300}

# Installs what `make` built: the run-time libraries (no compiler, no -dev package), the
# binaries, the unit, the example configuration and the man pages. DESTDIR stages it
# elsewhere (build on one machine, copy the tree to the server).
install:
	@test -x $(BUILD)/ttrelayd || { echo "install: run make first (it installs the build dependencies: scripts/deps.sh build)"; exit 1; }
	@if [ -z "$(DESTDIR)" ]; then scripts/deps.sh runtime; fi
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_TSAN) build-fuzz
