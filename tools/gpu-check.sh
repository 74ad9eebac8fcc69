#!/bin/sh
# tools/gpu-check.sh -- the GPU checks, on a machine with a CUDA device, from
# the bundle that tools/gpu-bundle.sh made (no build, no packages needed
# there).  Run it from the repository root (the tests read tests/, recipes/
# and stdlib/ from the tree):
#
#   sh tools/gpu-check.sh [DIR] [OUTDIR] [STAGE...]
#
# DIR is the bundle's folder (default .gpu); OUTDIR (default $OUT, else
# gpu-out) gets one text file per stage.  Stages, in the order given
# (default: env tests bench):
#   env     the device (nvidia-smi), the bundle's revision, what each
#           program loads from where                      -> gpu-env.txt
#   tests   the CUDA-vs-CPU suites with every test named (CK_VERBOSITY=
#           verbose): backend_ops transformer loss optim net cond reweight,
#           then the Lua tests (tests/lua/analysis_backend.lua etc. use
#           backend = "cuda")                             -> gpu-tests.txt
#   all     the whole suite, as 'make check' runs it (goldens pin the CPU)
#                                                         -> gpu-all.txt
#   bench   tests/bench/nn_step.lua on cuda and on cpu, tests/bench/
#           torch_step.py --device cuda (when python3 has torch), and
#           tests/bench/reweight.lua --set backend=cuda   -> gpu-bench.txt
#   ising16 recipes/ising16_metadns.lua --set preset=paper for STEPS
#           training steps per method (default 200), TEMPERA_BACKEND=cuda:
#           s/step on the GPU.  It checkpoints every CKPT_EVERY steps
#           (200) and leaves the run directory in OUTDIR/ising16-run.tar;
#           put that file in DIR and call again to continue the run where
#           it stopped (a run longer than one device call).  SAMPLES (1024)
#           final samples; ISING16_ARGS adds --set options; BACKEND=cpu
#           runs the same on the CPU (to try this stage without a GPU).
#                                          -> gpu-ising16.txt, ising16-run.tar
# Each stage is bounded by `timeout` (STAGE_TIMEOUT seconds, default 280) so
# a hung kernel cannot eat a whole device call.  Exit status: non-zero when
# a test stage failed.
set -u
dir=${1:-.gpu}
out=${2:-${OUT:-gpu-out}}
[ $# -ge 2 ] && shift 2 || shift $#
stages=${*:-env tests bench}
root=$(pwd)
limit=${STAGE_TIMEOUT:-280}
test -f "$dir/tempera-gpu.tar.xz" || { echo "gpu-check: no $dir/tempera-gpu.tar.xz (run tools/gpu-bundle.sh here and carry $dir)" >&2; exit 2; }
test -d "$root/tests" && test -d "$root/stdlib" || { echo "gpu-check: run me from the repository root" >&2; exit 2; }
mkdir -p "$out"
x=$(mktemp -d "${TMPDIR:-/tmp}/tempera-gpu.XXXXXX")
tar -C "$x" -xJf "$dir/tempera-gpu.tar.xz" || exit 2
bin=$x/bin/tempera
export LD_LIBRARY_PATH="$x/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# cuBLAS is not in the bundle: if the loader cannot find it, look where CUDA
# machines keep it (the toolkit, or the nvidia-* Python wheels)
if ldd "$bin" | grep -q 'libcublas.*not found'; then
	for d in /usr/local/cuda/lib64 /usr/local/cuda-*/lib64 /usr/local/cuda*/targets/x86_64-linux/lib \
		$(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, s, "lib") for p in nvidia.__path__ for s in os.listdir(p)))' 2>/dev/null); do
		if ls "$d"/libcublas.so.* >/dev/null 2>&1; then
			export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"
			ldd "$bin" | grep -q 'libcublas.*not found' || break
		fi
	done
fi
# the machine's libstdc++/libgcc_s unless missing or too old for the bundle
if ldd "$bin" "$x/build/tests/check_all" 2>&1 | grep -q 'not found'; then
	export LD_LIBRARY_PATH="$x/lib:$x/lib/fallback${LD_LIBRARY_PATH#"$x/lib"}"
fi
export TEMPERA_BIN="$bin" TEMPERA_SRC="$root" OMP_WAIT_POLICY=PASSIVE
status=0

run_stage() { # name file command...
	name=$1; file=$out/$2; shift 2
	echo "== $name: $*" | tee -a "$file" >&2
	t0=$(date +%s)
	timeout "$limit" "$@" >>"$file" 2>&1
	rc=$?
	echo "== $name: exit $rc after $(( $(date +%s) - t0 )) s" | tee -a "$file" >&2
	return $rc
}

for s in $stages; do
	case $s in
	env)
		f=$out/gpu-env.txt; : >"$f"
		{ echo "revision $(cat "$x/REVISION"), CUDA_ARCH $(cat "$x/CUDA_ARCH")"; uname -a
		  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
		  nvidia-smi 2>&1 || echo "nvidia-smi: not found"; ldd "$bin" "$x/build/tests/check_all"
		  "$bin" version; } >>"$f" 2>&1
		tail -3 "$f" >&2 ;;
	tests)
		: >"$out/gpu-tests.txt"
		CK_VERBOSITY=verbose run_stage "CUDA-vs-CPU suites" gpu-tests.txt "$x/build/tests/check_all" \
			backend_ops transformer loss optim net cond reweight || status=1
		run_stage "Lua tests" gpu-tests.txt "$x/build/tests/check_all" lua || status=1 ;;
	all)
		: >"$out/gpu-all.txt"
		run_stage "whole suite" gpu-all.txt "$x/build/tests/check_all" || status=1 ;;
	bench)
		: >"$out/gpu-bench.txt"
		run_stage "nn_step cuda" gpu-bench.txt "$bin" run tests/bench/nn_step.lua --set backend=cuda --set steps=5
		run_stage "nn_step cpu" gpu-bench.txt "$bin" run tests/bench/nn_step.lua --set backend=cpu
		if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
			run_stage "PyTorch eager cuda vs tempera" gpu-bench.txt python3 tests/bench/torch_step.py \
				--device cuda --steps 5 --tempera "$bin"
		else
			echo "== PyTorch with CUDA not importable: torch_step.py skipped" >>"$out/gpu-bench.txt"
		fi
		run_stage "reweight cuda" gpu-bench.txt "$bin" run tests/bench/reweight.lua --set backend=cuda ;;
	ising16)
		: >"$out/gpu-ising16.txt"
		run=$(mktemp -d "${TMPDIR:-/tmp}/tempera-ising16.XXXXXX")
		[ -f "$dir/ising16-run.tar" ] && tar -C "$run" -xf "$dir/ising16-run.tar" &&
			echo "== continuing the run in $dir/ising16-run.tar" >>"$out/gpu-ising16.txt"
		# shellcheck disable=SC2086
		run_stage "ising16_metadns paper settings, ${STEPS:-200} steps" gpu-ising16.txt \
			env TEMPERA_BACKEND="${BACKEND:-cuda}" "$bin" run recipes/ising16_metadns.lua --out "$run" --set preset=paper \
			--set steps="${STEPS:-200}" --set samples="${SAMPLES:-1024}" \
			--set checkpoint_every="${CKPT_EVERY:-200}" --set resume=true ${ISING16_ARGS:-}
		tar -C "$run" -cf "$out/ising16-run.tar" . ;;
	*) echo "gpu-check: unknown stage '$s' (env tests all bench ising16)" >&2; status=2 ;;
	esac
done
rm -rf "$x"
exit $status
