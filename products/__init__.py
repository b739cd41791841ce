"""Map products, functions of a session: they can always be made again from its folder.

The full-density map (map.py), its colour from the camera (colour.py), moving things removed
(dynamic.py), its files in LAS/LAZ, E57, PLY and PCD (export.py), the report (report.py), and
their accuracy against the digital twin's truth (accuracy.py).
"""
