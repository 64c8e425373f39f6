#!/bin/sh
# Installs lock files into a virtual environment exactly as they are: every package pinned and hashed, none
# resolved. Used by the Makefile for .venv and .venv-tools, and by tests/test_install.py, so both do the same.
#
#   tools/install-locked.sh PYTHON VENV [--project] LOCK...
#
# --no-deps is what makes this independent of the index and of pip's version: the locks are compiled with every
# transitive dependency, so pip has nothing to resolve, and an older pip cannot pick a newer release of a package
# that a locked package asks for with an extra (httpx[http2] did exactly that). `pip check` then proves the set
# is complete. With --project, calsync itself is installed editable, without build isolation (whose build
# environment would resolve setuptools from the index) and without dependencies.
set -eu

python=$1
venv=$2
shift 2
project=no
if [ "${1:-}" = "--project" ]; then
    project=yes
    shift
fi

say() { printf 'calsync: %s\n' "$*"; }
pip() { "$venv/bin/python" -m pip --disable-pip-version-check "$@"; }
fail() {
    say "installation failed. To see why, run: $venv/bin/python -m pip install $*"
    exit 1
}

if [ ! -x "$venv/bin/python" ]; then
    say "creating the virtual environment $venv ($("$python" --version 2>&1))"
    "$python" -m venv "$venv"
fi

for lock in "$@"; do
    count=$(grep -cE '^[A-Za-z0-9][A-Za-z0-9._-]*==' "$lock")
    say "installing $count locked packages from $lock (the first run downloads them: a minute or two)"
    pip install -q --no-deps --require-hashes -r "$lock" || fail "--no-deps --require-hashes -r $lock"
done

if [ "$project" = yes ]; then
    say "installing calsync itself (editable, no dependencies)"
    pip install -q --no-deps --no-build-isolation -e . || fail "--no-deps --no-build-isolation -e ."
fi

say "checking that every installed package has what it needs (pip check)"
pip check >/dev/null || { pip check; say "the environment is inconsistent: run $venv/bin/python -m pip check"; exit 1; }
