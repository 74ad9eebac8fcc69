#!/bin/sh
# tests/bench/mpi_scaling.sh -- one process (all cores as threads) against 2
# MPI ranks of one thread each, in one run on this machine:
#   - multiple-walker WT-MetaD (recipes/metad_walkers.lua): wall time until
#     the PMF RMSE against the exact 8x8 profile is below 0.1 kT, and the
#     MPI time per cycle;
#   - data-parallel MDNS training (tests/bench/mpi_train.lua): steps per
#     second and the MPI time per step.
# Usage: sh tests/bench/mpi_scaling.sh [ranks (default 2)]
set -eu
cd "$(dirname "$0")/../.."
T=bin/tempera
N=${1:-2}
command -v mpirun >/dev/null || { echo "mpi_scaling: mpirun not found (apt-get install openmpi-bin)"; exit 1; }
MPI="mpirun --allow-run-as-root --oversubscribe --bind-to none -np $N"
echo "# $(nproc) cores; one process uses them all as threads, each of the $N ranks one thread"
for r in 1 2 3; do
	$T run recipes/metad_walkers.lua --quiet 2>&1 >/dev/null | grep '^metad_walkers:'
	$MPI $T run recipes/metad_walkers.lua --quiet --threads 1 2>&1 >/dev/null | grep '^metad_walkers:'
done
for r in 1 2; do
	$T run tests/bench/mpi_train.lua --quiet | grep '^mpi_train:'
	$MPI $T run tests/bench/mpi_train.lua --quiet --threads 1 | grep '^mpi_train:'
done
