"""Tests of drivers.sim: the digital twin of the scanner."""
