#!/bin/bash
# One `poissonfp solve` run, its shell wall time against the solver's own clock (result.json's wall_time_s).
# usage: docs/scripts/solve_end_to_end.sh TREE CASE N METHOD [more solve flags, e.g. --no-figures]
#   TREE: a poissonfp source tree (run from its checkout: .), CASE: a shipped case or a bench case's name.
# BLAS on one thread, nice 5; prints one line (the extra flags, the wall and CPU seconds of the whole command,
# the solver's clock, the load average before) and the command's own `time` line. Run a 31² solve of each
# method first, so that numba's cache is filled. The CPU seconds (user + system, from /usr/bin/time) move
# less with the machine's load than the wall time.
tree=$(cd "$1" && pwd); case=$2; n=$3; method=$4; shift 4
file=$tree/poissonfp/cases/$case.toml; [ -f "$file" ] || file=$tree/poissonfp/studies/bench_cases/$case.toml
out=$(mktemp -d)/out
load=$(cut -d' ' -f1 /proc/loadavg)
start=$(date +%s.%N)
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$tree nice -n 5 \
    /usr/bin/time -f "cpu %U %S" -o "$out.cpu" \
    python -m poissonfp solve "$file" --n "$n" --method "$method" --quiet --out "$out" "$@" > "$out.log" 2>&1
end=$(date +%s.%N)
clock=$(python -c "import json; print(json.load(open('$out/result.json'))['wall_time_s'])")
cpu=$(awk '/^cpu/ {print $2 + $3}' "$out.cpu")
size=$(du -b "$out/solution.npz" | cut -f1)
flags="$*"
python -c "w=$end-$start; c=$clock; print(f'$case $n $method${flags:+ $flags}: wall {w:.2f} s (cpu $cpu s), solver {c:.3f} s, ratio {w/c:.1f}x, solution.npz {$size/1e6:.1f} MB, load $load')"
grep "^time" "$out.log"
rm -rf "$(dirname "$out")"
