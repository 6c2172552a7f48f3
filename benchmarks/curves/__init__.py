"""Calibration benchmark of the learning-curve extrapolation model (hpo.curves)."""
