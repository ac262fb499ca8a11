"""Regenerate "Convolutional Neural Networks on Tiny ImageNet" with Snakemake."""

__version__ = "0.1.0"
