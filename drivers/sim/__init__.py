"""The digital twin: a virtual scanner with ground truth."""

import numba as _numba

# prefer OpenMP for numba's parallel loops: thread-safe, and no warning about an old TBB
_numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
