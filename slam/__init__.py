"""SLAM: SE(3) math, the local voxel map with plane fits, registration and odometry."""

import numba as _numba

# prefer OpenMP for numba's parallel loops: thread-safe, and no warning about an old TBB
_numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
