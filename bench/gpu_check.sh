#!/usr/bin/env bash
# The GPU check in one command on a bare GPU machine: set up a virtual environment, then run
# bench/gpu_check.py (the tests marked cuda, TV-L1 on CUDA, extract-features with and without AMP, the
# fusion cache), which writes one JSON file and prints a summary. Under 8 minutes once torch is there.
#
#   bash bench/gpu_check.sh [bench/gpu_check.py arguments, e.g. --steps tests,flow_eager]
#
# Environment:
#   PYTHON            the Python to build on (default python3)
#   VENV              the virtual environment, created or reused (default .venv-gpu)
#   WHEELS            a folder of wheels: every pip call then runs offline (--no-index --find-links $WHEELS)
#   TORCH_INDEX       where a CUDA build of torch comes from when $PYTHON has none that sees a GPU
#                     (default https://download.pytorch.org/whl/cu130)
#   TORCH_VERSION     that build's version (default: the one constraints.txt pins for the CPU build)
#   GPU_CHECK_OUT     the JSON file (default bench/results/gpu_check.json)
#   GPU_CHECK_BUDGET  seconds for the whole check, set-up included (default 480)
#   TWOSTREAM_SHARED_DATA  the shared data (default ./shared/data when present, else ../shared/data)
# The exit code is 0 only when the set-up and every step passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv-gpu}
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cu130}
TORCH_VERSION=${TORCH_VERSION:-$(sed -n 's/^torch==//p' constraints.txt)}
if [ -z "${TWOSTREAM_SHARED_DATA:-}" ] && [ -d shared/data ]; then
    export TWOSTREAM_SHARED_DATA=$PWD/shared/data
fi
pip_options=(--disable-pip-version-check --no-input -q)
if [ -n "${WHEELS:-}" ]; then
    pip_options+=(--no-index --find-links "$WHEELS")
fi

now() { date +%s.%N; }

cuda_torch() {  # whether Python $1 has a CUDA build of torch that sees a GPU
    "$1" -c 'import sys, torch; sys.exit(not (torch.version.cuda and torch.cuda.is_available()))' 2>/dev/null
}

install_torch() {  # a CUDA build into the venv, from $WHEELS or $TORCH_INDEX (never the CPU constraints)
    local python=$1
    if [ -n "${WHEELS:-}" ]; then
        echo "torch==$TORCH_VERSION from $WHEELS"
        "$python" -m pip install "${pip_options[@]}" "torch==$TORCH_VERSION"
    else
        echo "torch==$TORCH_VERSION from $TORCH_INDEX"
        "$python" -m pip install "${pip_options[@]}" --index-url "$TORCH_INDEX" "torch==$TORCH_VERSION"
    fi
}

setup() {  # the venv with a CUDA torch, the project (editable) and only the requirements still missing
    local python=$VENV/bin/python
    if [ -x "$python" ] && cuda_torch "$python"; then
        echo "venv $VENV reused: its torch sees a GPU"
    elif cuda_torch "$PYTHON"; then
        echo "venv $VENV with $PYTHON's packages: its CUDA torch sees a GPU"
        "$PYTHON" -m venv --system-site-packages "$VENV" || return
    else
        echo "venv $VENV: $PYTHON has no CUDA torch that sees a GPU"
        "$PYTHON" -m venv "$VENV" && install_torch "$python" || return
    fi
    "$python" -c 'import torch; print("torch==" + torch.__version__)' >"$VENV/torch-pin.txt" || return
    echo "torch kept as $(cat "$VENV/torch-pin.txt")"
    local build=()  # build with the setuptools at hand, which needs no index
    if "$python" -c 'import sys, setuptools; sys.exit(int(setuptools.__version__.split(".")[0]) < 64)' 2>/dev/null; then
        build=(--no-build-isolation)
    fi
    "$python" -m pip install "${pip_options[@]}" "${build[@]}" --no-deps -e . || return
    local missing
    missing=$("$python" bench/missing_requirements.py --with pytest) || return
    if [ -z "$missing" ]; then
        echo "every requirement already met"
        return
    fi
    local requirements requirement failed=()
    mapfile -t requirements <<<"$missing"
    echo "installing what is missing: ${requirements[*]}"
    "$python" -m pip install "${pip_options[@]}" -c "$VENV/torch-pin.txt" "${requirements[@]}" && return
    echo "installing them together failed; one at a time, so that one missing wheel stops only its own steps"
    for requirement in "${requirements[@]}"; do
        "$python" -m pip install "${pip_options[@]}" -c "$VENV/torch-pin.txt" "$requirement" || failed+=("$requirement")
    done
    [ ${#failed[@]} -eq 0 ] || { echo "not installed: ${failed[*]}"; return 1; }
}

started=$(now)
log=$(mktemp -t gpu_check_setup.XXXXXX)
setup 2>&1 | tee "$log"
if [ "${PIPESTATUS[0]}" -eq 0 ]; then setup_status=ok; else setup_status=failed; fi
setup_seconds=$(awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
echo "set-up $setup_status in $setup_seconds s"
python=$VENV/bin/python
[ -x "$python" ] || python=$PYTHON  # the check still runs, and records what fails
"$python" bench/gpu_check.py --out "${GPU_CHECK_OUT:-bench/results/gpu_check.json}" \
    --budget "${GPU_CHECK_BUDGET:-480}" --setup-seconds "$setup_seconds" --setup-status "$setup_status" \
    --setup-log "$log" "$@"
status=$?
rm -f "$log"
exit "$status"
