# config.mk -- detection of tools and libraries, included by Makefile.
# Every setting can be overridden on the command line: make HAVE_CUDA=0.
# Variables are simple (:=) so each probe runs once per make invocation.

PKG_CONFIG ?= pkg-config
DEPS_PC    := luajit libzstd check openblas libedit

# --- CUDA (build-time: does nvcc exist? run-time decides if a GPU exists) ---
NVCC       ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
HAVE_CUDA  ?= $(if $(NVCC),1,0)
CUDA_HOME  ?= $(patsubst %/bin/nvcc,%,$(NVCC))
# A PTX target the driver JIT-compiles on any GPU newer than Turing; add SASS
# for your card to skip the JIT: make CUDA_ARCH="-gencode arch=compute_90,code=sm_90"
CUDA_ARCH  ?= -gencode arch=compute_75,code=compute_75

# --- libraries (pkg-config) ---
LUAJIT_CFLAGS := $(shell $(PKG_CONFIG) --cflags luajit 2>/dev/null)
LUAJIT_LIBS   := $(shell $(PKG_CONFIG) --libs luajit 2>/dev/null)
ZSTD_CFLAGS   := $(shell $(PKG_CONFIG) --cflags libzstd 2>/dev/null)
ZSTD_LIBS     := $(shell $(PKG_CONFIG) --libs libzstd 2>/dev/null)
BLAS_CFLAGS   := $(shell $(PKG_CONFIG) --cflags openblas 2>/dev/null)
BLAS_LIBS     := $(shell $(PKG_CONFIG) --libs openblas 2>/dev/null)
EDIT_CFLAGS   := $(shell $(PKG_CONFIG) --cflags libedit 2>/dev/null)
EDIT_LIBS     := $(shell $(PKG_CONFIG) --libs libedit 2>/dev/null)
CHECK_CFLAGS  := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS    := $(shell $(PKG_CONFIG) --libs check 2>/dev/null) -lutil
HAVE_CHECK    ?= $(shell $(PKG_CONFIG) --exists check && echo 1 || echo 0)
MANDOC        ?= $(shell command -v mandoc 2>/dev/null)
# Open MPI (libopenmpi-dev): several processes of one recipe under mpirun;
# without it (HAVE_MPI=0) tempera is one process and tp.mpi has size 1
MPI_CFLAGS    := $(shell $(PKG_CONFIG) --cflags ompi-c 2>/dev/null)
MPI_LIBS      := $(shell $(PKG_CONFIG) --libs ompi-c 2>/dev/null)
HAVE_MPI      ?= $(if $(MPI_LIBS),1,0)
MPIRUN        ?= $(shell command -v mpirun 2>/dev/null)
# NCCL beside nvcc (the CUDA toolkit's): GPU gradients summed across ranks
HAVE_NCCL     ?= $(if $(wildcard $(CUDA_HOME)/include/nccl.h),1,0)

# One summary line per setting, printed once per top-level make.
ifeq ($(TP_CONFIG_SHOWN),)
export TP_CONFIG_SHOWN := 1
# (run/test print it from the sub-make, after tools/deps.sh has installed packages)
ifneq ($(filter deps clean distclean run test,$(MAKECMDGOALS)),)
else
export TP_CONFIG_SHOWN := 1
ifeq ($(HAVE_CUDA),1)
$(info ✓ nvcc found ($(NVCC)): CUDA kernels compiled, used when a GPU is present at run time)
else
$(info ✗ nvcc not found or HAVE_CUDA=0: CPU only (kernels/cuda_stub.c))
endif
$(info $(if $(LUAJIT_LIBS),✓ LuaJIT $(shell $(PKG_CONFIG) --modversion luajit),✗ LuaJIT not found: run 'make deps'))
$(info $(if $(filter 1,$(HAVE_MPI)),✓ Open MPI $(shell $(PKG_CONFIG) --modversion ompi-c): mpirun -np N bin/tempera run R,✗ Open MPI not found or HAVE_MPI=0: one process (tp.mpi has size 1)))
endif
endif
