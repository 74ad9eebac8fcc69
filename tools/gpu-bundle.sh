#!/bin/sh
# tools/gpu-bundle.sh -- build tempera for a GPU machine that has the NVIDIA
# driver and the CUDA libraries but none of tempera's other libraries and no
# package manager access (the lent GPU machines: an image with CUDA and
# PyTorch, nothing reachable outside).  Builds the working tree in a scratch
# copy with SASS for Hopper (sm_90) beside the usual PTX, then packs
#   bin/tempera, build/tests/check_all   (the programs)
#   lib/                                 (every shared library they load
#                                         except glibc and cuBLAS, from ldd;
#                                         libstdc++ and libgcc_s in
#                                         lib/fallback, used only if the
#                                         machine's are missing or older)
# into DIR/tempera-gpu.tar.xz (DIR defaults to .gpu, which .gitignore
# ignores, so it travels only when named in the device tool's 'carry').
#
#   sh tools/gpu-bundle.sh [DIR]          here (make gpu-bundle)
#   sh tools/gpu-check.sh [DIR] [OUTDIR]  on the GPU machine, repo root
#
# Environment: CUDA_ARCH (default PTX compute_75 + SASS sm_90), JOBS (make -j).
set -eu
dir=${1:-.gpu}
root=$(cd "$(dirname "$0")/.." && pwd)
arch=${CUDA_ARCH:-"-gencode arch=compute_75,code=compute_75 -gencode arch=compute_90,code=sm_90"}
command -v nvcc >/dev/null 2>&1 || test -x /usr/local/cuda/bin/nvcc || {
	echo "gpu-bundle: nvcc not found: a GPU bundle needs the CUDA toolkit" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tempera-gpu.XXXXXX")
trap 'rm -rf "$work"' EXIT
# the working tree as it is (tracked and untracked-not-ignored files), not HEAD
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
	(cd "$root" && xargs -0 cp --parents -t "$work" 2>/dev/null) || true
test -f "$work/Makefile" || { echo "gpu-bundle: could not copy the working tree" >&2; exit 1; }
echo "gpu-bundle: building in $work (CUDA_ARCH=$arch)" >&2
make -C "$work" --no-print-directory -j"${JOBS:-2}" HAVE_CUDA=1 CUDA_ARCH="$arch" \
	bin/tempera build/tests/check_all >&2

stage=$work/stage
mkdir -p "$stage/bin" "$stage/build/tests" "$stage/lib"
cp "$work/bin/tempera" "$stage/bin/"
cp "$work/build/tests/check_all" "$stage/build/tests/"
# every library either program loads, less glibc's own (the loader, libc,
# libm, libpthread, libdl, librt: they must match the machine's kernel ABI)
# and cuBLAS (hundreds of MB; every CUDA machine has it beside its driver)
for prog in "$stage/bin/tempera" "$stage/build/tests/check_all"; do
	ldd "$prog" | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
	case $(basename "$lib") in
	ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libcublas*) ;;
	# newer copies of these are backward compatible and CUDA's own libraries
	# may need the machine's: gpu-check.sh uses ours only if the loader asks
	libstdc++.so*|libgcc_s.so*) mkdir -p "$stage/lib/fallback"; cp -L "$lib" "$stage/lib/fallback/" ;;
	*) cp -L "$lib" "$stage/lib/" ;;
	esac
done
git -C "$root" describe --always --dirty >"$stage/REVISION" 2>/dev/null || echo unknown >"$stage/REVISION"
echo "$arch" >"$stage/CUDA_ARCH"

mkdir -p "$root/$dir"
tar -C "$stage" -cJf "$root/$dir/tempera-gpu.tar.xz" .
echo "gpu-bundle: $dir/tempera-gpu.tar.xz ($(du -h "$root/$dir/tempera-gpu.tar.xz" | cut -f1)," \
	"$(find "$stage/lib" -type f | wc -l) libraries, revision $(cat "$stage/REVISION"))" >&2
