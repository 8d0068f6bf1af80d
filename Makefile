# Thin wrapper for people: every target only calls scripts/, cmake or ctest.
#   make            configure and build into build/
#   make test       build and run every test (ctest --output-on-failure)
#   make demo       install what is missing, build, run the whole journey on loopback, stop
#   make deps       install the build and test dependencies (Debian/Ubuntu)
#   make bench      benchmarks against HAProxy and nginx (bench/)
#   make scenario   the seed's network rebuilt in namespaces (root)
#   make package    the Debian package
#   make clean      remove build/
# Variables: BUILD_DIR (build), BUILD_TYPE (RelWithDebInfo), CMAKE_FLAGS (extra -D options),
# CTEST_FLAGS (e.g. -L unit), JOBS (parallel build jobs), NO_DEPS (1: do not install anything).
#
# Every target that builds first installs what it needs and is missing (scripts/install-deps.sh,
# apt-get as root or through sudo), so `make test` works as the first command on a fresh Debian 12
# machine, as `make demo` does. Nothing is installed when everything is present; without apt-get
# (another distribution) the step is skipped and CMake names what is missing.

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
CMAKE_FLAGS ?=
CTEST_FLAGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
NO_DEPS ?=

# The dependency groups of the goals on the command line, installed in one step before CMake runs.
DEPS_GROUPS := --build $(if $(filter test scenario,$(MAKECMDGOALS)),--test) $(if $(filter package,$(MAKECMDGOALS)),--package)

.PHONY: all build configure test demo deps bench scenario package clean

all: build

configure:
	@if [ "$(NO_DEPS)" != 1 ] && command -v apt-get >/dev/null 2>&1; then scripts/install-deps.sh $(DEPS_GROUPS); fi
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# After ctest, tests/summary.py lists each skipped test with its reason and prints
# "N passed, N failed, N skipped"; with CI=true a skip not in .ci/expected-skips fails.
test: build
	@rm -f $(BUILD_DIR)/ctest-results.xml; rc=0; \
	ctest --test-dir $(BUILD_DIR) --output-on-failure --output-junit ctest-results.xml \
	  $(CTEST_FLAGS) || rc=$$?; \
	python3 tests/summary.py --label tests --junit $(BUILD_DIR)/ctest-results.xml \
	  --expected .ci/expected-skips $(if $(CTEST_FLAGS),,--min-tests .ci/min-tests) || rc=1; \
	exit $$rc

deps:
	scripts/install-deps.sh

demo:
	scripts/demo.sh

bench:
	bench/run.sh

scenario: build
	tests/scenario/run.sh

package: build
	cd $(BUILD_DIR) && cpack -G DEB

clean:
	rm -rf $(BUILD_DIR)
