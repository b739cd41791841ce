"""The twin's scenes by name: build one from its name and seed, or list them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from drivers.sim.scenes.campus import campus
from drivers.sim.scenes.courtyard import courtyard
from drivers.sim.scenes.indoor import corridor, office, stairwell
from drivers.sim.scenes.scene import Scene

log = logging.getLogger(__name__)

SCENE_NAMES: tuple[str, ...] = (
    "office",
    "corridor",
    "courtyard",
    "stairwell",
    "campus",
)


def make_scene(name: str, seed: int = 0) -> Scene:
    """Build a scene by name; the same seed gives the same scene (colours, furniture, clutter)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown scene {name!r}; choose one of: {', '.join(SCENE_NAMES)}")
    t0 = time.perf_counter()
    scene = _BUILDERS[name](np.random.default_rng(seed))
    log.debug(
        "scene %s (seed %d): %d triangles in %.3f s",
        name,
        seed,
        len(scene.triangles),
        time.perf_counter() - t0,
    )
    return scene


def describe_scenes() -> dict[str, str]:
    """One line per scene."""
    return {
        "office": "20 x 15 m office floor: five rooms off a corridor, doors, desks, shelves",
        "corridor": "60 m straight corridor, smooth walls, two shallow door recesses, closed ends",
        "courtyard": "outdoor square 160 x 160 m: buildings, cars, trees, benches; open sky",
        "stairwell": "four floors joined by switchback stairs with landings; walk up and down",
        "campus": "480 x 480 m campus, a 2 km loop: plaza, buildings entered by their doors, "
        "stairs, look-alike rooms stacked, trees, cars, glass, a 70 m featureless underpass",
    }


_BUILDERS: dict[str, Callable[[np.random.Generator], Scene]] = {
    "office": office,
    "corridor": corridor,
    "courtyard": courtyard,
    "stairwell": stairwell,
    "campus": campus,
}
