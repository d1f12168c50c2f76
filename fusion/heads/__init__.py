"""Fusion heads: the gating ConvNet, multiplicative fusion, amplification, baselines A and B, map fusion layers."""
