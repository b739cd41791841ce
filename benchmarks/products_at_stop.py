"""From the stop to downloadable products, when the live SLAM kept up.

    .venv/bin/python benchmarks/products_at_stop.py SESSION [--submaps DIR] [--work DIR]

At the stop the live SLAM worker has already written the scan's submaps and, once it has
drained its queue, `graph.json` after the batch optimisation. This measures what follows: the
processing job (device/processing.py `process_session`) placing the submaps at the optimised
anchors and writing trajectory.tum, then map.ply and report.html (the map is downloadable),
then map.laz/e57/pcd, in a process of its own (its peak memory is its own: VmHWM, which counts
the memory-mapped map's pages it has read), on a hard-linked copy of SESSION so the original is
untouched.

The submaps come from --submaps (a live run's, or `scanner slam --submaps`); without it the
mapping runs first over the recording (what the live worker did during the scan), and its time,
its final optimisation (the part the stop waits for) and its peak memory are reported too.
Target (issue 19): stop to products <= 30 s for any scan up to 60 minutes, processing <= 4 GB.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.memory import proc_status_mb  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _map(session: Path, folder: Path) -> dict:
    from device.config import ScannerConfig
    from device.processing import open_recording, run_mapping

    config = ScannerConfig()
    t0 = time.perf_counter()
    run, result = run_mapping(open_recording(session, config), config, folder)
    return {
        "mapping_wall_s": time.perf_counter() - t0,
        "optimise_s": result.optimise_s,
        "submaps": result.n_submaps,
        "loops": len(result.loops),
        "peak_mb": _peak_mb(),
    }


def _process(session: Path) -> dict:
    import threading

    from device.config import ScannerConfig
    from device.processing import process_session

    stages: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    peak_anon = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak_anon[0] = max(peak_anon[0], proc_status_mb("RssAnon"))

    threading.Thread(target=sample, daemon=True).start()

    def progress(stage: str, fraction: float) -> None:
        if not stages or stages[-1][0] != stage:
            stages.append((stage, time.perf_counter() - t0))

    stats = process_session(session, ScannerConfig(), progress)
    done.set()
    return {
        "wall_s": time.perf_counter() - t0,
        "stages": stages,
        "slam_source": stats.get("slam_source"),
        "map_points": stats.get("final_map_points", 0),
        "map_ready_s": stats.get("map_ready_s"),
        "peak_mb": _peak_mb(),
        "peak_anon_mb": peak_anon[0],
        "products": sorted(
            (p.name, p.stat().st_size) for p in (session / "products").iterdir() if p.is_file()
        ),
    }


def _isolated(fn, *args):
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("session", type=Path)
    parser.add_argument("--submaps", type=Path, help="the live SLAM's submaps and graph.json")
    parser.add_argument("--work", type=Path, default=Path("out/products_at_stop"))
    a = parser.parse_args()

    work = a.work / a.session.name
    if work.exists():
        shutil.rmtree(work)
    work.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(a.session), str(work)], check=True)  # hard links
    for stale in ("products", "submaps"):
        if (work / stale).exists():
            shutil.rmtree(work / stale)
    if a.submaps is not None:
        shutil.copytree(a.submaps, work / "submaps")
    else:
        m = _isolated(_map, work, work / "submaps")
        print(
            f"mapping during the scan: {m['mapping_wall_s']:.0f} s, {m['submaps']} submaps,"
            f" {m['loops']} loops, final optimisation {m['optimise_s']:.2f} s,"
            f" peak {m['peak_mb']:.0f} MB"
        )
    p = _isolated(_process, work)
    print(
        f"stop to products: map.ply, trajectory and report downloadable after"
        f" {p['map_ready_s']:.1f} s, every format after {p['wall_s']:.1f} s ({p['slam_source']}),"
        f" peak {p['peak_mb']:.0f} MB (its own, without mapped files: {p['peak_anon_mb']:.0f} MB)"
    )
    print("  stages from the stop: " + ", ".join(f"{s} {t:.1f} s" for s, t in p["stages"]))
    print(
        f"  {p['map_points']:,} map points; "
        + ", ".join(f"{n} {b / 1e6:.0f} MB" for n, b in p["products"])
    )


if __name__ == "__main__":
    main()
