#!/usr/bin/env bash
# One prepared run of everything drillpe checks on a CUDA machine, in stages
# that each have a time limit, so that a run cut short still says what passed.
#
#   bash tests/gpu/session.sh [OUTDIR] [SECONDS]
#
# OUTDIR (default: $OUT, else ./gpu-out) receives one log per stage:
#   env.txt      the machine, torch, the GPU, `drillpe doctor`
#   tests.log    python -m pytest tests/gpu -v (every test but the bench ones), parallel
#   bench.txt    drillpe bench rope, rope_neox, alibi in float32 and bfloat16 (the model
#                answer against the production code), one after the other on a quiet GPU
#   bench_tests.log  the bench tests of tests/gpu (every exercise, the slow fixtures)
#   sanity.txt   the model answer of rope graded on CUDA under the machine's isolation;
#                if it fails there and passes under DRILLPE_ISOLATION=guard, the rest
#                of the run uses guard (said in the file)
#   diag.txt     with GPU_DIAG="ex/fixture ... path/ex.py": `drillpe check --json` of
#                each tests/fixtures file or named file on CUDA, all at once
# SECONDS (default 450) bounds the whole run; each stage gets a share.
# GPU_TESTS=FILE runs only the test ids listed in FILE (pytest's @FILE) in the
# tests stage; GPU_BENCH=0 skips the README's benches. tests/gpu/not_yet_on_a_gpu.txt
# lists what has not yet passed on a GPU (the fixes since the last run first):
#   GPU_TESTS=tests/gpu/not_yet_on_a_gpu.txt GPU_BENCH=0 bash tests/gpu/session.sh
#
# Where drillpe's own dependencies are missing (a machine with no network), put
# their wheels in .whl/ at the checkout's root: they are installed into a
# private folder first.
set -u
cd "$(dirname "$0")/../.."
OUTDIR=${1:-${OUT:-gpu-out}}
TOTAL=${2:-450}
mkdir -p "$OUTDIR"
START=$(date +%s)
left() { echo $(( TOTAL - ($(date +%s) - START) )); }
export PYTHONUNBUFFERED=1 DRILLPE_HOME=/tmp/drillpe-gpu-home
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/drillpe-site .whl/*.whl
    export PYTHONPATH="$PWD:/tmp/drillpe-site"
else
    export PYTHONPATH="$PWD"
fi
WORKERS=$(( $(nproc) - 2 )); [ "$WORKERS" -lt 1 ] && WORKERS=1

{
    date -u; nproc; nvidia-smi -L
    python3 -c "import sys, torch; print(sys.version); print('torch', torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"
    python3 -m pip list 2>/dev/null | grep -iE '^(typer|rich|fsrs|platformdirs|numpy|pytest|pytest-xdist|pytest-timeout) '
    timeout 120 python3 -m drillpe doctor
} > "$OUTDIR/env.txt" 2>&1
echo "env: $(( $(date +%s) - START )) s"

sanity() { COLUMNS=100 timeout 120 python3 -m drillpe check rope --file solutions/rope.py --device cuda; }
{ echo "=== isolation: ${DRILLPE_ISOLATION:-auto}"; sanity; } > "$OUTDIR/sanity.txt" 2>&1
if [ $? -ne 0 ]; then
    { echo "=== isolation: guard"; DRILLPE_ISOLATION=guard sanity; } >> "$OUTDIR/sanity.txt" 2>&1 &&
        export DRILLPE_ISOLATION=guard && echo "=== the rest of this run: guard" >> "$OUTDIR/sanity.txt"
fi
echo "sanity: $(( $(date +%s) - START )) s; isolation ${DRILLPE_ISOLATION:-auto}"

if [ -n "${GPU_DIAG:-}" ]; then
    for f in $GPU_DIAG; do
        if [[ $f == *.py ]]; then ex=$(basename "$f" .py); file=$f
        else ex=${f%%/*}; file=tests/fixtures/$f.py; fi
        ( out=$(COLUMNS=100 timeout 120 python3 -m drillpe check "$ex" \
              --file "$file" --device cuda --json 2>&1)
          printf '=== %s\n%s\n' "$f" "$out" ) > "$OUTDIR/diag-${f//\//-}.part" &
    done
    wait
    cat "$OUTDIR"/diag-*.part > "$OUTDIR/diag.txt"; rm -f "$OUTDIR"/diag-*.part
    echo "diag: $(( $(date +%s) - START )) s"
fi

# The grader on CUDA: every reference, every fixture, the hard-coded .cuda() file.
# (@FILE alone: beside tests/gpu it would add to the whole folder, not choose from it)
if [ -n "${GPU_TESTS:-}" ]; then SELECT=("@$GPU_TESTS"); else SELECT=(tests/gpu -k "not bench"); fi
timeout $(( $(left) * ${GPU_TESTS_SHARE:-50} / 100 )) python3 -m pytest -v -o addopts="" -p no:cacheprovider \
    -n "$WORKERS" --tb=short -rfE "${SELECT[@]}" > "$OUTDIR/tests.log" 2>&1
echo "tests: rc $? at $(( $(date +%s) - START )) s; $(tail -1 "$OUTDIR/tests.log")"

# The bench the README quotes, one at a time on a quiet GPU.
[ "${GPU_BENCH:-1}" = 0 ] || for ex in rope rope_neox alibi; do
    for dt in float32 bfloat16; do
        [ "$(left)" -lt 60 ] && break 2
        echo "=== drillpe bench $ex --device cuda --dtype $dt --file solutions/$ex.py" >> "$OUTDIR/bench.txt"
        COLUMNS=100 timeout 90 python3 -m drillpe bench "$ex" --file "solutions/$ex.py" --device cuda \
            --dtype "$dt" >> "$OUTDIR/bench.txt" 2>&1
        echo "rc $?" >> "$OUTDIR/bench.txt"
    done
done
echo "bench: at $(( $(date +%s) - START )) s"

timeout $(( $(left) - 10 )) python3 -m pytest tests/gpu -v -s -o addopts="" -p no:cacheprovider \
    -n 6 -k bench -rfE > "$OUTDIR/bench_tests.log" 2>&1
echo "bench tests: rc $? at $(( $(date +%s) - START )) s; $(tail -1 "$OUTDIR/bench_tests.log")"
