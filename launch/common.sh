# Shared by the launch scripts: the project root, the Python to use, dry-run echo.
# DRY_RUN=1 makes `run` print each command (shell-quoted) instead of running it.
PRL_ROOT=${PERSUASION_RL_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PYTHON=${PYTHON:-python}
export PYTHONPATH="$PRL_ROOT${PYTHONPATH:+:$PYTHONPATH}"

run() {
    if [ "${DRY_RUN:-0}" = 1 ]; then
        printf '+'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}

# `persuasion-rl train` (dry-run: composes and prints the config and command, runs nothing)
train() {
    local extra=()
    [ "${DRY_RUN:-0}" = 1 ] && extra=(--dry-run)
    (cd "$PRL_ROOT" && "$PYTHON" -m persuasion_rl.cli train "$@" "${extra[@]}")
}
