"""Stage two: fusion heads, late-fusion rules, training loops and evaluation on cached features."""
