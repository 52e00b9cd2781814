#!/usr/bin/env bash
# Regenerates the README's core results: the default DCGAN run and the digit-7
# run (each resumes if already done), their final grids in docs/figures/, and
# the run table in docs/core_results.md and the evaluations made during
# training in docs/core_evaluation.md.  About 15-25 min each on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m gan_jax.main --config=configs/dcgan.py --workdir=runs/dcgan
python -m gan_jax.main --config=configs/dcgan.py:digit7 --workdir=runs/digit7
mkdir -p docs/figures
cp runs/dcgan/samples_final.png docs/figures/dcgan_mnist.png
cp runs/digit7/samples_final.png docs/figures/dcgan_digit7.png
python experiments/run_summary.py runs/dcgan runs/digit7 > docs/core_results.md
python experiments/run_summary.py --eval runs/dcgan runs/digit7 > docs/core_evaluation.md
cat docs/core_results.md docs/core_evaluation.md
