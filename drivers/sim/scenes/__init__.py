"""Procedural scenes for the digital twin, and a ray caster over them.

A scene is a triangle mesh (world frame: z up, metres) built from boxes and cylinders, with a
base albedo and a procedural texture per face, plus a closed walk path on the floor for the
operator. The texture is evaluated at the 3-D point (planar projection along the face's dominant
axis, or 3-D value noise), so no UVs are needed and the camera sees texture everywhere.

scene.py: the Scene type, its textures and PLY export; primitives.py: meshes, materials and the
builder that assembles them; indoor.py and courtyard.py: four small scenes; campus.py (with
campus_route.py, campus_buildings.py, campus_props.py): a 480 m campus for a 30-minute walk;
catalog.py: the scenes by name; raycast.py: the ray caster.
"""
