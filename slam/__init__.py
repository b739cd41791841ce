"""SLAM: SE(3) math, the local voxel map with plane fits, registration and odometry."""
