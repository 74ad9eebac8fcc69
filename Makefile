# tempera -- top-level Makefile.  See README.md for every variable.
#
#   make            build bin/tempera
#   make run        install missing packages, build, run recipes/quickstart.lua
#   make test       install missing packages, build, run every test
#   make install    PREFIX=/usr/local DESTDIR= MANDIR=$(PREFIX)/share/man
#
# Layering (enforced by 'make check-layering'): kernels <- runtime <- stdlib <- recipes.

VERSION  := 0.1.0
ABI      := 1
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
DESTDIR  ?=
RECIPE   ?= recipes/quickstart.lua
SANITIZE ?=
V        ?= 0

# deps/clean must not need the libraries that deps installs
ifeq ($(filter deps clean,$(MAKECMDGOALS)),)
include config.mk
endif

Q := $(if $(filter 1,$(V)),,@)
CC      ?= cc
CFLAGS  ?= -O2 -g
LDFLAGS ?=

TP_CFLAGS := -std=c99 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter \
	-fvisibility=hidden -fopenmp -MMD -MP -Iruntime -Ikernels -Ibuild/gen \
	-DTP_VERSION='"$(VERSION)"' -DTP_ABI_VERSION=$(ABI) \
	$(LUAJIT_CFLAGS) $(ZSTD_CFLAGS) $(BLAS_CFLAGS) $(EDIT_CFLAGS)
TP_LIBS   := $(LUAJIT_LIBS) $(ZSTD_LIBS) $(BLAS_LIBS) $(EDIT_LIBS) -fopenmp -lm -lpthread -ldl
# -Wl,-E exports the TP_FFI symbols so ffi.C can find them in the executable.
TP_LDFLAGS := -Wl,-E

ifeq ($(HAVE_MPI),1)
TP_CFLAGS += -DTP_HAVE_MPI $(MPI_CFLAGS)
TP_LIBS   += $(MPI_LIBS)
TP_MPI_LIBS := $(MPI_LIBS)
endif

ifneq ($(SANITIZE),)
TP_CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
TP_LDFLAGS += -fsanitize=$(SANITIZE)
endif

# --- sources ---------------------------------------------------------------
RUNTIME_SRC := $(wildcard runtime/*.c)
KERNEL_SRC  := $(filter-out kernels/cuda_stub.c,$(wildcard kernels/*.c))
CUDA_SRC    := $(wildcard kernels/*.cu)
STDLIB_LUA  := $(shell find stdlib -name '*.lua' 2>/dev/null | LC_ALL=C sort)
TEST_SRC    := $(wildcard tests/check_*.c) tests/testutil.c

OBJ := $(patsubst %.c,build/%.o,$(RUNTIME_SRC) $(KERNEL_SRC)) build/gen/stdlib.o
ifeq ($(HAVE_CUDA),1)
TP_CFLAGS += -DTP_HAVE_CUDA
OBJ       += $(patsubst %.cu,build/%.o,$(CUDA_SRC))
TP_LIBS   += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
NVCCFLAGS ?= -O2
TP_NVCCFLAGS := $(CUDA_ARCH) -std=c++17 -Xcompiler -fvisibility=hidden,-Wall,-Wextra \
	-Werror all-warnings -Iruntime -Ikernels -DTP_HAVE_CUDA -MMD -MP $(if $(filter 1,$(HAVE_NCCL)),-DTP_HAVE_NCCL)
else
OBJ += build/kernels/cuda_stub.o
endif
LIB_OBJ  := $(filter-out build/runtime/main.o,$(OBJ))
TEST_OBJ := $(patsubst %.c,build/%.o,$(TEST_SRC))

# --- top-level targets -----------------------------------------------------
.PHONY: all
all: bin/tempera

.PHONY: deps
deps:
	@sh tools/deps.sh

.PHONY: run
run: deps
	@$(MAKE) --no-print-directory all
	bin/tempera run $(RECIPE) --out tempera-out

.PHONY: test
test: deps
	@$(MAKE) --no-print-directory check

.PHONY: check
check: bin/tempera build/tests/check_all check-layering man-lint
	@echo "== Check suites (C, Lua, CLI, golden recipes)"
	$(Q)OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-PASSIVE} TEMPERA_BIN=$(CURDIR)/bin/tempera TEMPERA_SRC=$(CURDIR) \
		CK_TIMEOUT_MULTIPLIER=$(if $(SANITIZE),6,1) build/tests/check_all

.PHONY: check-layering
check-layering:
	@if grep -il 'lua' kernels/*.[ch] kernels/*.cu kernels/*.cuh 2>/dev/null; then \
		echo "layering: kernels/ must not mention Lua (files above)"; exit 1; fi
	@echo "✓ layering: kernels/ is Lua-free"

.PHONY: man-lint
man-lint:
ifneq ($(MANDOC),)
	$(Q)$(MANDOC) -Tlint -Wwarning man/*.[0-9] && echo "✓ man pages lint clean (mandoc)"
else
	@echo "✗ mandoc not found: man-lint skipped"
endif

.PHONY: bench
bench: bin/tempera build/bench/libmcref.so
	@for b in tests/bench/*.lua; do echo "== $$b"; bin/tempera run $$b --quiet || exit 1; done

# Plain C reference kernels that tests/bench/mc.lua loads with ffi.load and
# times beside tempera's samplers (not part of tempera; -march=native).
build/bench/libmcref.so: tests/bench/mc_ref.c kernels/philox.h
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) -O2 -march=native -fPIC -shared -fopenmp -std=c99 -Wall -Wextra -Ikernels -o $@ $< -lm

.PHONY: gpu-bundle
gpu-bundle:
	@sh tools/gpu-bundle.sh .gpu

.PHONY: install
install: bin/tempera
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 755 bin/tempera $(DESTDIR)$(BINDIR)/tempera
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 man/*.7 $(DESTDIR)$(MANDIR)/man7/

.PHONY: uninstall
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tempera
	cd man && for f in *.1; do rm -f $(DESTDIR)$(MANDIR)/man1/$$f; done
	cd man && for f in *.5; do rm -f $(DESTDIR)$(MANDIR)/man5/$$f; done
	cd man && for f in *.7; do rm -f $(DESTDIR)$(MANDIR)/man7/$$f; done

.PHONY: clean
clean:
	rm -rf build bin

# --- fuzzing: libFuzzer target for the dump reader (tests/fuzz/dump_fuzz.c) --
# Built with clang -fsanitize=fuzzer,address,undefined; 'make check' runs it
# for FUZZ_TIME seconds (skipped without clang).  Crashes land in build/fuzz.
FUZZ_CC   ?= $(shell command -v clang 2>/dev/null)
FUZZ_TIME ?= 10
.PHONY: fuzz
check: fuzz
fuzz:
ifneq ($(FUZZ_CC),)
	@mkdir -p build/fuzz/corpus
	$(Q)$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -std=c99 -D_GNU_SOURCE -DTP_LIBFUZZER \
		-Iruntime -Ikernels -Ibuild/gen $(ZSTD_CFLAGS) -o build/fuzz/dump_fuzz tests/fuzz/dump_fuzz.c \
		runtime/dump.c runtime/fs.c kernels/common.c $(ZSTD_LIBS)
	$(Q)build/fuzz/dump_fuzz -max_total_time=$(FUZZ_TIME) -max_len=4096 -artifact_prefix=build/fuzz/ \
		-print_final_stats=0 build/fuzz/corpus tests/fuzz/corpus 2>build/fuzz/log || \
		{ tail -40 build/fuzz/log; exit 1; }
	@echo "✓ fuzz: dump reader: $$(grep -a -o 'Done [0-9]* runs.*' build/fuzz/log), no crash"
else
	@echo "✗ clang not found: fuzz run skipped"
endif

# --- build rules -------------------------------------------------------------
bin/tempera: $(OBJ)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $(TP_LDFLAGS) -o $@ $(OBJ) $(TP_LIBS)

build/tests/check_all: $(TEST_OBJ) $(LIB_OBJ)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $(TP_LDFLAGS) -o $@ $(TEST_OBJ) $(LIB_OBJ) $(CHECK_LIBS) $(TP_LIBS)

build/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(TP_CFLAGS) -c -o $@ $<

build/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(TP_CFLAGS) $(CHECK_CFLAGS) -Itests -c -o $@ $<

build/tests/check_main.o: build/gen/check_suites.h

build/kernels/%.o: kernels/%.cu
	@mkdir -p $(@D)
	@echo "  NVCC    $<"
	$(Q)$(NVCC) $(NVCCFLAGS) $(TP_NVCCFLAGS) -c -o $@ $<

# --- the CUDA emulator (tests/cudaemu/cuda_runtime.h): kernels/*.cu compiled
# by the C++ compiler against a CPU emulation of the CUDA runtime and cuBLAS,
# linked into build/emu/check_all, so 'make check' runs the CUDA-vs-CPU tests
# on machines without a GPU.  Launches 'k<<<cfg>>>(args)' are rewritten into
# calls; '#line' keeps compiler messages pointing at kernels/NAME.cu.
CXX ?= g++
EMU_CUDA_OBJ := $(patsubst kernels/%.cu,build/emu/%.o,$(CUDA_SRC))
EMU_OBJ      := $(EMU_CUDA_OBJ) build/emu/emu.o
EMU_CXXFLAGS := -std=c++17 -O1 -g -Wall -Wextra -Wno-unused-parameter -Wno-unused-function -Wno-sign-compare \
	-Itests/cudaemu -Iruntime -Ikernels -DTP_HAVE_CUDA -MMD -MP $(BLAS_CFLAGS) \
	$(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer)
EMU_SUITES   := backend_ops transformer loss optim net cond reweight
EMU_LUA      := tests/lua/nn_cuda.lua tests/lua/analysis_backend.lua

build/emu/%.cpp: kernels/%.cu
	@mkdir -p $(@D)
	$(Q){ echo '#line 1 "$<"'; perl -pe 's/\b(\w+)<<<(.*?)>>>\(/tp_emu_launch("$$1", $$1, $$2)(/g' $<; } > $@

build/emu/%.o: build/emu/%.cpp
	@echo "  CXX     $(<:build/emu/%.cpp=kernels/%.cu) (CUDA emulator)"
	$(Q)$(CXX) $(EMU_CXXFLAGS) -c -o $@ $<

build/emu/emu.o: tests/cudaemu/emu.cpp
	@mkdir -p $(@D)
	@echo "  CXX     $<"
	$(Q)$(CXX) $(EMU_CXXFLAGS) -c -o $@ $<

build/emu/check_all: $(TEST_OBJ) $(filter-out $(patsubst %.cu,build/%.o,$(CUDA_SRC)),$(LIB_OBJ)) $(EMU_OBJ)
	@echo "  LD      $@"
	$(Q)$(CXX) $(LDFLAGS) $(TP_LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LUAJIT_LIBS) $(ZSTD_LIBS) $(BLAS_LIBS) \
		$(EDIT_LIBS) $(TP_MPI_LIBS) -fopenmp -lm -lpthread -ldl

build/emu/selftest: tests/cudaemu/selftest.cpp build/emu/emu.o
	@echo "  CXX     $<"
	$(Q)$(CXX) $(EMU_CXXFLAGS) $(LDFLAGS) -o $@ $^

# the command-line program on the emulator: TEMPERA_BACKEND=cuda build/emu/tempera run R.lua
build/emu/tempera: $(filter-out $(patsubst %.cu,build/%.o,$(CUDA_SRC)),$(OBJ)) $(EMU_OBJ)
	@echo "  LD      $@"
	$(Q)$(CXX) $(LDFLAGS) $(TP_LDFLAGS) -o $@ $^ $(LUAJIT_LIBS) $(ZSTD_LIBS) $(BLAS_LIBS) $(EDIT_LIBS) \
		$(TP_MPI_LIBS) -fopenmp -lm -lpthread -ldl

.PHONY: check-cuda-emu
check: check-cuda-emu
check-cuda-emu: bin/tempera
ifeq ($(HAVE_CUDA)$(if $(shell command -v $(CXX) 2>/dev/null),1,0),11)
	@$(MAKE) --no-print-directory build/emu/check_all build/emu/tempera build/emu/selftest
	$(Q)build/emu/selftest
	@echo "== CUDA twins under the CPU emulator (tests/cudaemu): $(EMU_SUITES)"
	$(Q)OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-PASSIVE} TEMPERA_BACKEND=cpu TEMPERA_BIN=$(CURDIR)/bin/tempera \
		TEMPERA_SRC=$(CURDIR) CK_TIMEOUT_MULTIPLIER=$(if $(SANITIZE),6,1) build/emu/check_all $(EMU_SUITES)
	@echo "== the stdlib on the emulated CUDA backend: $(EMU_LUA)"
	$(Q)for f in $(EMU_LUA); do d=$$(mktemp -d) && (cd $$d && OMP_WAIT_POLICY=PASSIVE TEMPERA_BACKEND=cpu \
		$(CURDIR)/build/emu/tempera run $(CURDIR)/$$f) >$$d.log 2>&1 || { cat $$d.log; echo "✗ $$f failed"; exit 1; }; \
		echo "✓ $$f: $$(tail -1 $$d.log)"; rm -rf $$d $$d.log; done
else
	@echo "✗ HAVE_CUDA=0 or no C++ compiler ($(CXX)): CUDA emulator run skipped"
endif

# The FFI surface: runtime/tp_ffi.h is compiled by C and turned into the cdef
# text that stdlib/tempera/ffi.lua loads, so the two cannot drift.
build/gen/tempera/cdef.lua: runtime/tp_ffi.h tools/cdef.sh $(wildcard kernels/*.h runtime/*.h)
	@mkdir -p $(@D)
	$(Q)sh tools/cdef.sh $< > $@

build/tools/embed: tools/embed.c
	@mkdir -p $(@D)
	$(Q)$(CC) -O2 -std=c99 -Wall -Wextra -o $@ $<

build/gen/stdlib.c: build/tools/embed $(STDLIB_LUA) build/gen/tempera/cdef.lua
	@echo "  EMBED   stdlib ($(words $(STDLIB_LUA)) modules)"
	$(Q)build/tools/embed $@ $(STDLIB_LUA) build/gen/tempera/cdef.lua

build/gen/stdlib.o: build/gen/stdlib.c
	$(Q)$(CC) $(CFLAGS) -std=c99 -c -o $@ $<

# Each tests/check_NAME.c defines 'Suite *NAME_suite(void)'.
build/gen/check_suites.h: $(TEST_SRC)
	@mkdir -p $(@D)
	$(Q)for f in $(filter-out tests/check_main.c tests/testutil.c,$(TEST_SRC)); do \
		n=$$(basename $$f .c); n=$${n#check_}; echo "TP_SUITE($$n)"; done > $@.tmp && \
		{ cmp -s $@.tmp $@ || mv $@.tmp $@; }; rm -f $@.tmp

# Objects depend on a stamp named after the flags a user can vary, so
# 'make SANITIZE=address' after a plain build recompiles everything.
FLAGS_STAMP := build/flags.$(shell printf '%s' '$(CC) $(CFLAGS) $(SANITIZE) $(HAVE_CUDA) $(CUDA_ARCH) $(NVCCFLAGS)' | cksum | cut -d' ' -f1)
$(FLAGS_STAMP):
	@mkdir -p build && rm -f build/flags.* && touch $@
$(OBJ) $(TEST_OBJ) $(EMU_OBJ) build/gen/stdlib.o: $(FLAGS_STAMP)
$(OBJ) $(TEST_OBJ): | build/gen/tempera/cdef.lua

-include $(shell find build -name '*.d' 2>/dev/null)
