"""Pareto fronts as pure functions: non-dominated sorting, crowding distance, hypervolume.

Points are sequences of floats, one per objective, each objective maximized or minimized
as ``directions`` says (``"max"`` or ``"min"``). NSGA-II (Deb et al. 2002) ranks points by
front, then by crowding distance within a front; the hypervolume measures a front against a
reference point worse than all of it (Zitzler and Thiele 1998). Nothing here knows trials or
oracles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = Sequence[float]
DIRECTIONS = ("max", "min")


def _minimized(points: Sequence[Point], directions: Sequence[str]) -> list[tuple[float, ...]]:
    """``points`` as minimization: maximized objectives change sign."""
    for direction in directions:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be max or min, got {direction!r}")
    out = []
    for point in points:
        if len(point) != len(directions):
            raise ValueError(f"a point of {len(point)} values for {len(directions)} objectives")
        out.append(tuple(-v if d == "max" else v for v, d in zip(point, directions)))
    return out


def dominates(a: Point, b: Point, directions: Sequence[str]) -> bool:
    """Whether ``a`` is at least as good as ``b`` in every objective and better in one."""
    a_min, b_min = _minimized([a, b], directions)
    return all(x <= y for x, y in zip(a_min, b_min)) and any(x < y for x, y in zip(a_min, b_min))


def non_dominated_sort(points: Sequence[Point], directions: Sequence[str]) -> list[list[int]]:
    """The fronts of ``points``, best first, as lists of indices in ascending order.

    Front 1 holds the points no other point dominates; front k those dominated only by
    points of fronts 1 to k - 1 (Deb et al.'s fast non-dominated sort, O(M N^2)).
    """
    minimized = _minimized(points, directions)
    count = len(minimized)
    beaten_by = [0] * count  # how many points dominate point i
    beats: list[list[int]] = [[] for _ in range(count)]
    for i in range(count):
        for j in range(i + 1, count):
            a, b = minimized[i], minimized[j]
            if all(x <= y for x, y in zip(a, b)) and a != b:
                beats[i].append(j)
                beaten_by[j] += 1
            elif all(y <= x for x, y in zip(a, b)) and a != b:
                beats[j].append(i)
                beaten_by[i] += 1
    fronts, current = [], [i for i in range(count) if beaten_by[i] == 0]
    while current:
        fronts.append(sorted(current))
        following = []
        for i in current:
            for j in beats[i]:
                beaten_by[j] -= 1
                if beaten_by[j] == 0:
                    following.append(j)
        current = following
    return fronts


def crowding_distance(points: Sequence[Point]) -> list[float]:
    """Each point's crowding distance within its front (direction does not matter).

    Per objective, the points are sorted; the two extremes get infinity and every other
    point the gap between its neighbours divided by the objective's range; a point's
    distance is the sum over objectives. An objective with no range adds nothing.
    """
    count = len(points)
    distance = [0.0] * count
    if count == 0:
        return distance
    for m in range(len(points[0])):
        order = sorted(range(count), key=lambda i: points[i][m])
        low, high = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for k in range(1, count - 1):
            gap = points[order[k + 1]][m] - points[order[k - 1]][m]
            distance[order[k]] += gap / (high - low)
    return distance


def rank(points: Sequence[Point], directions: Sequence[str]) -> list[int]:
    """Indices of ``points`` best first: by front, then by crowding distance (widest
    first), then by index (the earlier point first)."""
    order = []
    for front in non_dominated_sort(points, directions):
        crowding = crowding_distance([points[i] for i in front])
        order += [i for _, i in sorted(zip((-c for c in crowding), front))]
    return order


def hypervolume(points: Sequence[Point], reference: Point, directions: Sequence[str]) -> float:
    """The volume that ``points`` dominate and that dominates ``reference``.

    Exact, by slicing along the first objective (O(N^M) at worst; fine for the fronts of
    a sweep). Points no better than the reference in some objective add nothing.
    """
    minimized = _minimized(points, directions)
    (ref,) = _minimized([reference], directions)
    inside = [p for p in minimized if all(x < r for x, r in zip(p, ref))]
    return _volume(inside, ref)


def _volume(points: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    if not points:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in points)
    points = sorted(points)
    total = 0.0
    for k, point in enumerate(points):
        upper = points[k + 1][0] if k + 1 < len(points) else ref[0]
        if upper > point[0]:
            total += (upper - point[0]) * _volume([p[1:] for p in points[: k + 1]], ref[1:])
    return total


def reference_point(points: Sequence[Point], directions: Sequence[str], margin=0.1) -> list[float]:
    """A reference point for :func:`hypervolume`: per objective the worst value of
    ``points``, pushed ``margin`` of the objective's range further (1 where the range is
    0), so that the extremes of a front count too."""
    if not points:
        raise ValueError("no points to place a reference point by")
    reference = []
    for m, direction in enumerate(directions):
        values = [p[m] for p in points]
        spread = (max(values) - min(values)) or 1.0
        if direction == "max":
            reference.append(min(values) - margin * spread)
        else:
            reference.append(max(values) + margin * spread)
    return reference


def hypervolume_curve(points: Sequence[Point], directions: Sequence[str]) -> list[float]:
    """The hypervolume of the first k points for every k, all against one reference
    point (:func:`reference_point` of all of them): how a search's front grew."""
    if not points:
        return []
    reference = reference_point(points, directions)
    return [hypervolume(points[: k + 1], reference, directions) for k in range(len(points))]
