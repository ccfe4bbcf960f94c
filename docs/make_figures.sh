#!/usr/bin/env bash
# Regenerates docs/figures/ with `bends construct` and `bends plot` (run from the repo root,
# with the .venv that `make demo` builds, or any environment where `bends` is installed).
set -euo pipefail
BENDS=${BENDS:-.venv/bin/bends}
out=docs/figures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make_figure() {  # name, plot options, construct arguments...
  local name=$1 plot_opts=$2
  shift 2
  "$BENDS" construct "$@" -o "$tmp/$name.json" >/dev/null
  # shellcheck disable=SC2086
  "$BENDS" plot "$tmp/$name.json" -o "$out/$name.png" $plot_opts
}
make_figure sawtooth "" sawtooth --depth 4
make_figure sawtooth-layers "--layers" sawtooth --depth 4
make_figure tent "" tent --slope 1.5 --depth 5
make_figure abs-map "" abs-map --depth 6
make_figure orbit "" orbit --orbit 0.1,0.5,0.9,0.3,0.7 --depth 2
make_figure yarotsky "" yarotsky --m 3 --rnn
make_figure parabola "" parabola --m 3
make_figure candidate "" candidate --m 4 --rnn
make_figure compositional "" compositional --peaks 0.3,0.6,0.45,0.5 --add
make_figure compositional-layers "--layers" compositional --peaks 0.3,0.6,0.45,0.5,0.5
make_figure compositional-rnn "" compositional-rnn --peak 0.4 --ratio 0.2 --steps 5
make_figure staircase "" staircase --j 3
make_figure staircase-layers "--layers" staircase --j 2
# a trained classifier's region map, with its data and decision boundary
PYTHON=${PYTHON:-.venv/bin/python}
"$PYTHON" docs/region_maps.py "$tmp"
"$BENDS" plot "$tmp/moons.json" --plane "-1.5,-1;2.5,-1;-1.5,1.5" --mark "$tmp/moons.csv" \
  --boundary --color output -o "$out/moons-regions.png"
"$BENDS" plot "$tmp/spiral.json" --plane "-1.2,-1.2;1.2,-1.2;-1.2,1.2" --mark "$tmp/spiral.csv" \
  --boundary --color gradient -o "$out/spiral-regions.png"
"$PYTHON" docs/complex_figure.py "$out"
