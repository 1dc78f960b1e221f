"""`python -m snn2hw ...` (and `torchrun --nproc-per-node N -m snn2hw distill ...`)."""

from snn2hw.cli import main

main()
