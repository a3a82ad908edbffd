"""GeoScatter: points by longitude and latitude on plain axes: no map tiles, nothing fetched from the internet.

Example::

    places = [("Louvre", 2.3376, 48.8606), ("Eiffel Tower", 2.2945, 48.8584)]
    geo = labkit.viz.GeoScatter(title="Paris")
    geo.update(places, center=(2.3522, 48.8566), radius_km=3, highlight=["Louvre"]).show()
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import plotly.graph_objects as go

from ..errors import ConfigurationError
from ._base import View, colour

EARTH_RADIUS_KM = 6372.797560856  # the radius Redis/Valkey GEO commands use


class GeoScatter(View):
    """Points (name, longitude, latitude); `highlight` names drawn larger (e.g. GEOSEARCH results).

    `center` and `radius_km` draw the search point and circle. Axes keep true proportions at the
    data's latitude, so distances look right without a map projection library or tiles.
    """

    def __init__(self, *, title: str = "places", height: int = 480) -> None:
        self._title, self._height = title, height
        super().__init__()

    def _build(self) -> go.FigureWidget:
        return go.FigureWidget(
            data=[
                go.Scatter(name="places", mode="markers+text", x=[], y=[], text=[], textposition="top center",
                           textfont={"size": 10, "color": "#777"}, marker={"size": 7, "color": "#9e9e9e"},
                           hovertemplate="%{text}<br>%{x:.4f}, %{y:.4f}<extra></extra>"),
                go.Scatter(name="matches", mode="markers+text", x=[], y=[], text=[], textposition="top center",
                           marker={"size": 11, "color": colour(1)}, hovertemplate="%{text}<extra></extra>"),
                go.Scatter(name="search area", mode="lines", x=[], y=[], line={"color": colour(0), "dash": "dash"}, hoverinfo="skip"),
                go.Scatter(name="you", mode="markers", x=[], y=[], marker={"size": 14, "symbol": "star", "color": colour(0)}),
            ],
            layout=go.Layout(
                title={"text": self._title, "font": {"size": 14}}, height=self._height, margin={"l": 60, "r": 20, "t": 50, "b": 50},
                xaxis={"title": {"text": "longitude"}}, yaxis={"title": {"text": "latitude"}}, plot_bgcolor="#f4f7fb",
                legend={"orientation": "h", "y": -0.15},
            ),
        )

    def update(self, points: Any, *, highlight: Iterable[str] = (), center: tuple[float, float] | None = None,  # type: ignore[override]
               radius_km: float | None = None) -> GeoScatter:
        """Draw `points` ((name, lon, lat) triples or {name: (lon, lat)}); optional matches and search circle."""
        return super().update((_points(points), tuple(highlight), center, radius_km))

    def _apply(self, data: tuple) -> None:
        points, highlight, center, radius_km = data
        chosen = set(highlight)
        lat_mid = sum(lat for _name, _lon, lat in points) / len(points) if points else (center[1] if center else 0.0)
        with self.figure.batch_update():
            places, matches, circle, you = self.figure.data
            others = [point for point in points if point[0] not in chosen]
            found = [point for point in points if point[0] in chosen]
            places.x, places.y, places.text = [p[1] for p in others], [p[2] for p in others], [p[0] for p in others]
            matches.x, matches.y, matches.text = [p[1] for p in found], [p[2] for p in found], [p[0] for p in found]
            if center is not None and radius_km:
                xs, ys = _circle(center, radius_km)
                circle.x, circle.y = xs, ys
            else:
                circle.x, circle.y = [], []
            you.x, you.y = ([center[0]], [center[1]]) if center is not None else ([], [])
            # One degree of longitude is cos(latitude) times as long as one of latitude.
            self.figure.layout.yaxis.scaleanchor = "x"
            self.figure.layout.yaxis.scaleratio = 1 / max(math.cos(math.radians(lat_mid)), 0.01)
            self.figure.layout.title.text = f"{self._title}: {len(points)} places" + (f", {len(found)} matches" if chosen else "")

    def _text(self, data: tuple) -> str:
        points, highlight, center, radius_km = data
        lines = [f"{self._title}: {len(points)} places"]
        if center is not None:
            lines.append(f"  search around {center[0]:.4f}, {center[1]:.4f}" + (f" within {radius_km:g} km" if radius_km else ""))
        if highlight:
            lines.append("  matches: " + ", ".join(highlight))
        return "\n".join(lines)


def _points(points: Any) -> list[tuple[str, float, float]]:
    items = [(name, *where) for name, where in points.items()] if isinstance(points, Mapping) else points
    result = []
    for item in items:
        try:
            name, lon, lat = item
            lon, lat = float(lon), float(lat)
        except (TypeError, ValueError):
            raise ConfigurationError(f"each place must be (name, longitude, latitude); got {item!r}.") from None
        if not (-180 <= lon <= 180 and -85.06 <= lat <= 85.06):
            raise ConfigurationError(f"{name!r}: longitude must be within ±180 and latitude within ±85.05 (the GEO limits); got {lon}, {lat}.")
        result.append((name.decode() if isinstance(name, bytes) else str(name), lon, lat))
    return result


def _circle(center: tuple[float, float], radius_km: float, steps: int = 72) -> tuple[list[float], list[float]]:
    lon0, lat0 = center
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    dlon = dlat / max(math.cos(math.radians(lat0)), 0.01)
    angles = [2 * math.pi * step / steps for step in range(steps + 1)]
    return [lon0 + dlon * math.cos(a) for a in angles], [lat0 + dlat * math.sin(a) for a in angles]


__all__ = ["GeoScatter"]
