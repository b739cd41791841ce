"""Sensors: the frame types every source yields, the readers, and (later) the live drivers."""
