"""Map files: LAS/LAZ (laspy + lazrs) and E57 (pye57) with the field's own libraries, PLY and
PCD (binary, their headers written here). Every writer reads the map in chunks, so a map
memory-mapped from disk (products.map.MapBuilder's) is never in memory whole.

COPC (products/copc.py, copclib): the LAZ sorted into an octree for viewers that page it; it is
the one writer that holds the map's coordinates in memory (to sort them).

Times: LAS and COPC carry adjusted standard GPS time (GPS seconds - 1e9), from the session's
UTC start; the other formats carry seconds on the recording's clock.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from products.map import MapCloud
from slam.se3 import transform

log = logging.getLogger(__name__)

FORMATS = ("las", "laz", "e57", "ply", "pcd", "copc")
SPLAT_FILES = {"gs-ply": "splat.ply", "splat": "scene.splat"}  # the splat's, copied as they are
EXPORT_FORMATS = (*FORMATS, "tum", *SPLAT_FILES)  # what export_product writes
CHUNK = 1_000_000
GPS_EPOCH_UNIX_S = 315_964_800  # 1980-01-06T00:00:00Z
GPS_LEAP_S = 18  # GPS - UTC since 2017


class MissingProductError(FileNotFoundError):
    """The session has no such product yet (a splat is only there once one is trained)."""


def utc_to_adjusted_gps(unix_s: np.ndarray) -> np.ndarray:
    return unix_s - GPS_EPOCH_UNIX_S + GPS_LEAP_S - 1e9


def write_map(
    path: Path,
    cloud: MapCloud,
    fmt: str,
    *,
    gps_offset_s: float = 0.0,
    epsg: int | None = None,
    voxel_m: float = 0.02,  # the map's spacing: COPC's finest level
) -> Path:
    """One map file. gps_offset_s takes the recording's clock to UTC (the manifest's
    utc_offset_s)."""
    path = Path(path)
    if fmt == "copc":
        from products.copc import write_copc

        write_copc(path, cloud, voxel_m, gps_offset_s=gps_offset_s, epsg=epsg)
    elif fmt in ("las", "laz"):
        write_las(path, cloud, gps_offset_s=gps_offset_s, epsg=epsg, compress=fmt == "laz")
    elif fmt == "e57":
        write_e57(path, cloud)
    elif fmt == "ply":
        write_ply(path, cloud)
    elif fmt == "pcd":
        write_pcd(path, cloud)
    else:
        raise ValueError(f"unknown map format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return path


def map_file(fmt: str) -> str:
    """A map product's file name: map.FMT (COPC: map.copc.laz, as COPC readers expect)."""
    return "map.copc.laz" if fmt == "copc" else f"map.{fmt}"


def las_header(point_format, lo_m: np.ndarray | None, epsg: int | None, software: str):
    """LAS 1.4, 1 mm scale, offsets at the floor of `lo_m` ([3], the smallest coordinates),
    standard GPS time, the CRS's WKT when `epsg` is given."""
    import laspy

    header = laspy.LasHeader(point_format=point_format, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    if lo_m is not None:
        header.offsets = np.floor(lo_m)
    header.global_encoding.gps_time_type = laspy.header.GpsTimeType.STANDARD
    header.system_identifier = "handheld-scanner"
    header.generating_software = software
    if epsg is not None:
        from pyproj import CRS

        header.add_crs(CRS.from_epsg(epsg))
    return header


def box_corners(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:  # [3], [3] -> [8, 3]
    return np.array([[(lo, hi)[(k >> i) & 1][i] for i in range(3)] for k in range(8)])


def write_las(
    path: Path,
    cloud: MapCloud,
    gps_offset_s: float = 0.0,
    epsg: int | None = None,
    compress: bool | None = None,  # None: as the name says (.laz)
    T_crs_map: np.ndarray | None = None,  # [4, 4]: the points taken into a CRS, chunk by chunk
):
    """LAS 1.4, point format 7 (XYZ, intensity, GPS time, RGB), 1 mm scale; .laz compresses."""
    import laspy

    lo = None
    if len(cloud):
        lo = cloud.xyz_m.min(axis=0)
        if T_crs_map is not None:  # the box's corners through T bound the points through T
            lo = transform(T_crs_map, box_corners(lo, cloud.xyz_m.max(axis=0))).min(axis=0)
    header = las_header(7, lo, epsg, "scanner export")
    if compress is None:
        compress = path.suffix.lower() == ".laz"
    with laspy.open(path, mode="w", header=header, do_compress=compress) as writer:
        for a in range(0, max(len(cloud), 1), CHUNK):
            b = min(a + CHUNK, len(cloud))
            if b <= a:
                break
            pts = laspy.ScaleAwarePointRecord.zeros(b - a, header=header)
            xyz = np.asarray(cloud.xyz_m[a:b])
            if T_crs_map is not None:
                xyz = transform(T_crs_map, xyz)
            pts.x, pts.y, pts.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
            pts.intensity = (np.clip(cloud.intensity[a:b], 0, 255) * 257).astype(np.uint16)
            pts.gps_time = utc_to_adjusted_gps(cloud.t_s[a:b] + gps_offset_s)
            if cloud.rgb is not None:
                rgb = cloud.rgb[a:b].astype(np.uint16) * 257  # 8 -> 16 bit
                pts.red, pts.green, pts.blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
            if cloud.coloured is not None:  # user data 1: the colour is the camera's
                pts.user_data = cloud.coloured[a:b].astype(np.uint8)
            writer.write_points(pts)


def write_e57(
    path: Path,
    cloud: MapCloud,
    T_crs_map: np.ndarray | None = None,  # [4, 4] rigid: the scan's pose in a CRS
    epsg: int | None = None,
) -> None:
    """One scan (the registered map) with intensity (the Mid-360's 0..255, its limits in the
    scan's header) and, if any, colour; its pose identity, or T_crs_map (georeferenced: the
    points stay in the map frame, the pose takes them into the CRS, whose WKT goes into the
    file's coordinateMetadata). pye57 reads the columns in chunks, so a memory-mapped map
    stays on disk."""
    write_e57_scans(path, [("handheld scan (registered)", cloud, T_crs_map)], epsg)


def write_e57_scans(
    path: Path,
    scans: list[tuple[str, MapCloud, np.ndarray | None]],  # name, points, pose [4, 4] or None
    epsg: int | None = None,
) -> None:
    """Several scans in one E57 (a site: one per session), each its points in its own frame
    and its pose (rigid) into the file's frame."""
    import pye57
    from scipy.spatial.transform import Rotation

    path.unlink(missing_ok=True)
    e57 = pye57.E57(str(path), mode="w") if epsg is None else _E57InCrs(str(path), epsg)
    try:
        for name, cloud, T in scans:
            data = {
                "cartesianX": cloud.xyz_m[:, 0],
                "cartesianY": cloud.xyz_m[:, 1],
                "cartesianZ": cloud.xyz_m[:, 2],
                "intensity": cloud.intensity,
            }
            if cloud.rgb is not None:
                for i, c in enumerate(("colorRed", "colorGreen", "colorBlue")):
                    data[c] = cloud.rgb[:, i]
            pose = {}
            if T is not None:
                x, y, z, w = Rotation.from_matrix(T[:3, :3]).as_quat()
                pose = {"rotation": np.array([w, x, y, z]), "translation": T[:3, 3].copy()}
            e57.write_scan_raw(data, name=name, **pose)
    finally:
        e57.close()


def _E57InCrs(path: str, epsg: int):
    """pye57's writer with the CRS's WKT as the file's coordinateMetadata (pye57 writes an
    empty one in its default header, which E57 does not let be set twice)."""
    import uuid

    import pye57
    from pye57 import libe57
    from pyproj import CRS

    wkt = CRS.from_epsg(epsg).to_wkt()

    class E57InCrs(pye57.E57):
        def write_default_header(self) -> None:  # pye57 1.x's, but coordinateMetadata
            imf, root = self.image_file, self.root
            imf.extensionsAdd("", libe57.E57_V1_0_URI)
            root.set("formatName", libe57.StringNode(imf, "ASTM E57 3D Imaging Data File"))
            root.set("guid", libe57.StringNode(imf, f"{{{uuid.uuid4()}}}"))
            root.set("versionMajor", libe57.IntegerNode(imf, libe57.E57_FORMAT_MAJOR))
            root.set("versionMinor", libe57.IntegerNode(imf, libe57.E57_FORMAT_MINOR))
            root.set("e57LibraryVersion", libe57.StringNode(imf, libe57.E57_LIBRARY_ID))
            root.set("coordinateMetadata", libe57.StringNode(imf, wkt))
            created = libe57.StructureNode(imf)
            created.set("dateTimeValue", libe57.FloatNode(imf, 0.0))
            created.set("isAtomicClockReferenced", libe57.IntegerNode(imf, 0))
            root.set("creationDateTime", created)
            root.set("data3D", libe57.VectorNode(imf, True))
            root.set("images2D", libe57.VectorNode(imf, True))

    return E57InCrs(path, mode="w")


def _fields(cloud: MapCloud, xyz_dtype: str) -> list[tuple[str, str]]:
    fields = [("x", xyz_dtype), ("y", xyz_dtype), ("z", xyz_dtype), ("intensity", "<f4")]
    fields += [("time", "<f8")]
    if cloud.rgb is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    if cloud.coloured is not None:
        fields += [("coloured", "u1")]
    return fields


def _records(cloud: MapCloud, fields: list[tuple[str, str]], a: int, b: int) -> np.ndarray:
    """Points a..b as packed records of `fields`."""
    v = np.empty(b - a, dtype=fields)
    xyz = np.asarray(cloud.xyz_m[a:b])
    v["x"], v["y"], v["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    v["intensity"], v["time"] = cloud.intensity[a:b], cloud.t_s[a:b]
    if cloud.rgb is not None:
        rgb = np.asarray(cloud.rgb[a:b])
        v["red"], v["green"], v["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    if cloud.coloured is not None:
        v["coloured"] = cloud.coloured[a:b]
    return v


def _write_records(path: Path, header: str, cloud: MapCloud, fields) -> None:
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        for a in range(0, len(cloud), CHUNK):
            f.write(memoryview(_records(cloud, fields, a, min(a + CHUNK, len(cloud)))).cast("B"))


def write_ply(path: Path, cloud: MapCloud) -> None:
    """Binary little-endian PLY: double x y z (survey coordinates), intensity, time, rgb and
    `coloured` (1: the colour is the camera's; 0: no camera saw the point, grey from intensity).
    Written in chunks."""
    types = {"<f8": "double", "<f4": "float", "u1": "uchar"}
    fields = _fields(cloud, "<f8")
    header = "ply\nformat binary_little_endian 1.0\ncomment handheld-scanner map\n"
    header += f"element vertex {len(cloud)}\n"
    header += "".join(f"property {types[t]} {name}\n" for name, t in fields)
    _write_records(path, header + "end_header\n", cloud, fields)


def write_pcd(path: Path, cloud: MapCloud) -> None:
    """Binary PCD with x y z (float32, as PCL expects), intensity, time (and rgb packed into
    one float, PCL's way). Written in chunks."""
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4"), ("time", "<f8")]
    if cloud.rgb is not None:
        fields.append(("rgb", "<f4"))
    n = len(cloud)
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\n"
        f"FIELDS {' '.join(name for name, _ in fields)}\n"
        f"SIZE {' '.join(t[-1] for _, t in fields)}\n"
        f"TYPE {' '.join('F' for _ in fields)}\n"
        f"COUNT {' '.join('1' for _ in fields)}\n"
        f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\nDATA binary\n"
    )
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        for a in range(0, n, CHUNK):
            b = min(a + CHUNK, n)
            v = np.empty(b - a, dtype=fields)
            xyz = np.asarray(cloud.xyz_m[a:b])
            v["x"], v["y"], v["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
            v["intensity"], v["time"] = cloud.intensity[a:b], cloud.t_s[a:b]
            if cloud.rgb is not None:
                rgb = np.asarray(cloud.rgb[a:b]).astype(np.uint32)
                v["rgb"] = ((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).view(np.float32)
            f.write(memoryview(v).cast("B"))


def read_ply(path: Path, in_memory: bool = True) -> MapCloud:
    """map.ply back into a MapCloud (the other formats are made from it). `in_memory=False`:
    the columns are views of the memory-mapped file (read them in chunks), for maps larger than
    the memory."""
    from plyfile import PlyData

    v = PlyData.read(str(path), mmap="r")["vertex"].data  # [N] records, memory-mapped
    names = v.dtype.names

    def columns(*fields: str) -> np.ndarray:  # [N, k] of consecutive same-typed fields
        first, offset = v.dtype.fields[fields[0]][:2]
        together = all(
            v.dtype.fields[f][:2] == (first, offset + i * first.itemsize)
            for i, f in enumerate(fields)
        )
        if together and not in_memory:
            return np.lib.stride_tricks.as_strided(
                v[fields[0]], (len(v), len(fields)), (v.strides[0], first.itemsize), writeable=False
            )
        return np.column_stack([v[f] for f in fields])

    def column(name: str, dtype, default) -> np.ndarray:
        if name not in names:
            return np.full(len(v), default, dtype)
        return v[name] if not in_memory and v.dtype[name] == dtype else np.array(v[name], dtype)

    xyz = columns("x", "y", "z")
    if in_memory or xyz.dtype != np.float64:
        xyz = np.asarray(xyz, np.float64)
    rgb = columns("red", "green", "blue").astype(np.uint8, copy=False) if "red" in names else None
    coloured = column("coloured", np.uint8, 0).view(bool) if "coloured" in names else None
    return MapCloud(
        xyz, column("intensity", np.float32, 0.0), column("time", np.float64, 0.0), rgb, coloured
    )


def export_product(
    products_dir: Path,
    fmt: str,
    out: Path,
    *,
    gps_offset_s: float = 0.0,
    epsg: int | None = None,
    voxel_m: float = 0.02,  # the map's spacing: COPC's finest level
) -> str:
    """Write one of a processed session's products (its `products/` folder) to `out` in one of
    EXPORT_FORMATS: the splat's files and the trajectory (tum) copied as they are, the map made
    from map.ply. -> what was written ("trajectory", "1,234 points (laz)", ...). Raises
    MissingProductError for a splat not trained yet."""
    import shutil

    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt in SPLAT_FILES:
        src = products_dir / SPLAT_FILES[fmt]
        if not src.is_file():
            raise MissingProductError(f"{src}: no splat yet")
        shutil.copyfile(src, out)
        return f"splat ({fmt})"
    if fmt == "tum":
        shutil.copyfile(products_dir / "trajectory.tum", out)
        return "trajectory"
    cloud = read_ply(products_dir / "map.ply", in_memory=False)  # written in chunks
    write_map(out, cloud, fmt, gps_offset_s=gps_offset_s, epsg=epsg, voxel_m=voxel_m)
    return f"{len(cloud):,} points ({fmt})"
