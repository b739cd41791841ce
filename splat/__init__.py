"""3D Gaussian Splatting from the scanner's sessions: initialise from the coloured LiDAR map,
train on the camera keyframes with the SLAM poses, export the standard 3DGS PLY and .splat."""
