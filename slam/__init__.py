"""SLAM: SE(3) math, the voxel map with plane fits, registration, the lidar-only odometry and
the LiDAR-inertial filter, the engine that runs either over a source's frames, and metrics."""

import numba as _numba

# prefer OpenMP for numba's parallel loops: thread-safe, and no warning about an old TBB
_numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
