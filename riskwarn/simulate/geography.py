"""The simulated city's geography: outline, counties, townships, communities, grid.

Everything is built on the 250 m analysis grid of EPSG:32650 (cell (i, j) covers
[i*s, (i+1)*s) x [j*s, (j+1)*s)), the same cells :mod:`riskwarn.geo` uses, so the
ground truth per cell lines up with the feature tables. Admin units are nested
Voronoi tessellations: counties are the Voronoi cells of their seats clipped to the
city outline, townships the Voronoi cells of township seats clipped to their county,
and so on; a point belongs to the unit whose seat is nearest among its parent's
children, which is exactly what the polygons say.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

from riskwarn.geo import project, unproject
from riskwarn.simulate.config import CELL_SIZE_M, CRS, SimConfig

# code, name, seat lon, seat lat, population, terrain, real township count
COUNTIES: tuple[tuple[str, str, float, float, int, str, int], ...] = (
    ("340802", "迎江区", 117.08, 30.51, 300_000, "urban", 8),
    ("340803", "大观区", 117.01, 30.55, 380_000, "urban", 10),
    ("340811", "宜秀区", 117.08, 30.59, 300_000, "urban", 8),
    ("340822", "怀宁县", 116.83, 30.60, 600_000, "plain", 20),
    ("340825", "太湖县", 116.25, 30.45, 500_000, "mountain", 15),
    ("340826", "宿松县", 116.05, 30.15, 600_000, "plain", 22),
    ("340827", "望江县", 116.88, 30.30, 500_000, "plain", 10),
    ("340828", "岳西县", 116.33, 30.92, 350_000, "mountain", 24),
    ("340881", "桐城市", 116.97, 30.90, 700_000, "plain", 15),
    ("340882", "潜山市", 116.57, 30.70, 500_000, "mountain", 16),
)
CITY_CODE, CITY_NAME = "340800", "宜城市"

# lon/lat outline of the city, shrunk by 0.88 about its centre (about 13,600 km2)
CITY_OUTLINE = (
    (115.80, 30.10),
    (116.10, 29.78),
    (116.50, 29.82),
    (116.90, 29.98),
    (117.25, 30.35),
    (117.30, 30.75),
    (117.15, 31.15),
    (116.70, 31.20),
    (116.20, 31.15),
    (115.95, 30.80),
    (115.80, 30.45),
)
_NAME_CHARS = list("龙山河新城东西南北花石高长黄白青天平安桥湖塘林集铺岭源口店庄丰和兴茶松竹梅溪")


@dataclass(frozen=True)
class Geography:
    """Rasters on the 250 m grid plus the admin and management-grid tables."""

    ix0: int  # cell_x of column 0
    iy0: int  # cell_y of row 0
    mask: np.ndarray  # (ny, nx) bool, cell centre inside the city
    population: np.ndarray  # (ny, nx) float, residents per cell
    mountain: np.ndarray  # (ny, nx) 0..1, how mountainous
    urban: np.ndarray  # (ny, nx) 0..1, how urban
    county: np.ndarray  # (ny, nx) int, index into COUNTIES, -1 outside
    township: np.ndarray  # (ny, nx) int, index into townships, -1 outside
    community: np.ndarray  # (ny, nx) int, index into communities, -1 outside
    mgmt_grid: np.ndarray  # (ny, nx) int, index into grid_cells, -1 outside
    admin: pd.DataFrame  # code, name, level, parent_code, geometry_wkt, population
    township_codes: np.ndarray  # (n_townships,) str
    community_codes: np.ndarray  # (n_communities,) str
    community_township: np.ndarray  # (n_communities,) int township index
    grid: pd.DataFrame  # grid_code, community_code, geometry_wkt, population, households

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape  # type: ignore[return-value]

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Projected x, y (metres) of every cell centre, each of shape (ny, nx)."""
        ny, nx = self.shape
        xs = (self.ix0 + np.arange(nx) + 0.5) * CELL_SIZE_M
        ys = (self.iy0 + np.arange(ny) + 0.5) * CELL_SIZE_M
        return np.meshgrid(xs, ys)

    def flat_cell(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat raster index of points (x, y in metres) and whether they are inside."""
        ny, nx = self.shape
        col = np.floor(x / CELL_SIZE_M).astype(np.int64) - self.ix0
        row = np.floor(y / CELL_SIZE_M).astype(np.int64) - self.iy0
        ok = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
        flat = np.where(ok, row * nx + col, 0)
        ok &= self.mask.ravel()[flat]
        return flat, ok


def _outline_m() -> shapely.Polygon:
    lon, lat = zip(*CITY_OUTLINE, strict=True)
    x, y = project(np.array(lon), np.array(lat), CRS)
    poly = shapely.Polygon(np.column_stack([x, y]))
    # shrink towards the centre so the area is close to the reference city's 13,600 km2
    centre = shapely.centroid(poly)
    xy = np.column_stack([x, y])
    c = np.array([centre.x, centre.y])
    return shapely.Polygon(c + 0.88 * (xy - c))


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], sigma_cells: float
) -> np.ndarray:
    """Unit-variance Gaussian random field (white noise smoothed with a Gaussian)."""
    field = gaussian_filter(rng.standard_normal(shape), sigma_cells, mode="wrap")
    return field / field.std()


def _bumps(
    x: np.ndarray, y: np.ndarray, cx: np.ndarray, cy: np.ndarray, sig: np.ndarray, amp: np.ndarray
) -> np.ndarray:
    """Sum of Gaussian bumps at (cx, cy) over the cell centres x, y (only the masked ones)."""
    out = np.zeros_like(x)
    for k in range(len(cx)):  # loop over a few hundred seats, each vectorised over cells
        out += amp[k] * np.exp(-((x - cx[k]) ** 2 + (y - cy[k]) ** 2) / (2 * sig[k] ** 2))
    return out


def _nearest_within_parent(
    px: np.ndarray,
    py: np.ndarray,
    parent: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    sparent: np.ndarray,
) -> np.ndarray:
    """Index of the nearest seed having the same parent (a 3rd axis keeps parents apart)."""
    big = 1e9
    tree = cKDTree(np.column_stack([sx, sy, sparent * big]))
    _, idx = tree.query(np.column_stack([px, py, parent * big]))
    return np.asarray(idx, dtype=np.int64)


def _sample_cells(
    rng: np.random.Generator, cells: np.ndarray, weight: np.ndarray, n: int
) -> np.ndarray:
    """``n`` distinct cells drawn with probability proportional to ``weight``."""
    n = min(n, len(cells))
    p = weight / weight.sum()
    return rng.choice(cells, size=n, replace=False, p=p)


def _voronoi_within(parent: shapely.Geometry, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Voronoi polygons of seeds clipped to ``parent``, in seed order."""
    if len(sx) == 1:
        return np.array([parent], dtype=object)
    pts = shapely.multipoints(np.column_stack([sx, sy]))
    cells = shapely.voronoi_polygons(pts, extend_to=parent, ordered=True)
    polys = np.asarray(shapely.get_parts(cells))
    return np.asarray(shapely.intersection(polys, parent))


def _to_wkt(geoms: np.ndarray) -> np.ndarray:
    def tr(coords: np.ndarray) -> np.ndarray:
        lon, lat = unproject(coords[:, 0], coords[:, 1], CRS)
        return np.column_stack([lon, lat])

    wgs = shapely.transform(geoms, tr)
    wgs = shapely.simplify(wgs, 1e-4)
    return np.asarray(shapely.to_wkt(wgs, rounding_precision=5, trim=True))


def _place_names(rng: np.random.Generator, n: int, suffix: np.ndarray) -> np.ndarray:
    a = rng.integers(0, len(_NAME_CHARS), n)
    b = rng.integers(0, len(_NAME_CHARS), n)
    chars = np.array(_NAME_CHARS)
    return np.char.add(np.char.add(chars[a], chars[b]), suffix)


def build_geography(cfg: SimConfig, rng: np.random.Generator) -> Geography:
    """Build the city's rasters, admin units and management grid."""
    outline = _outline_m()
    xmin, ymin, xmax, ymax = outline.bounds
    ix0, iy0 = int(np.floor(xmin / CELL_SIZE_M)), int(np.floor(ymin / CELL_SIZE_M))
    nx = int(np.ceil(xmax / CELL_SIZE_M)) - ix0
    ny = int(np.ceil(ymax / CELL_SIZE_M)) - iy0
    xs = (ix0 + np.arange(nx) + 0.5) * CELL_SIZE_M
    ys = (iy0 + np.arange(ny) + 0.5) * CELL_SIZE_M
    gx, gy = np.meshgrid(xs, ys)
    mask = shapely.contains_xy(outline, gx, gy)
    inside = np.flatnonzero(mask.ravel())
    cx, cy = gx.ravel()[inside], gy.ravel()[inside]

    # terrain: mountains in the north-west (Dabie foothills), plains along the river
    mlon, mlat = np.array([116.30, 116.10]), np.array([30.95, 30.45])
    mx, my = project(mlon, mlat, CRS)
    mountain = np.exp(-((cx - mx[0]) ** 2 + (cy - my[0]) ** 2) / (2 * 42_000.0**2)) + 0.6 * np.exp(
        -((cx - mx[1]) ** 2 + (cy - my[1]) ** 2) / (2 * 25_000.0**2)
    )
    mountain = np.clip(mountain + 0.12 * _smooth_noise(rng, mask.shape, 12).ravel()[inside], 0, 1)

    # counties: Voronoi of the seats
    clon = np.array([c[2] for c in COUNTIES])
    clat = np.array([c[3] for c in COUNTIES])
    sx, sy = project(clon, clat, CRS)
    zeros = np.zeros(len(inside))
    county = _nearest_within_parent(cx, cy, zeros, sx, sy, np.zeros(len(sx)))
    county_polys = _voronoi_within(outline, sx, sy)

    # base population: rural floor damped in mountains + county seat towns
    is_urban_county = np.array([c[5] == "urban" for c in COUNTIES])
    seat_amp = np.where(is_urban_county, 60.0, 35.0)
    seat_sig = np.where(is_urban_county, 3_500.0, 2_000.0)
    base = (
        1.0 * (1 - 0.8 * mountain) * np.exp(0.3 * _smooth_noise(rng, mask.shape, 6).ravel()[inside])
    )
    base = base + _bumps(cx, cy, sx, sy, seat_sig, seat_amp)

    # townships: seats drawn where people live (dense districts get small townships)
    t_county, t_cell = [], []
    for k, c in enumerate(COUNTIES):
        n_t = max(2, round(c[6] * cfg.township_scale))
        cells = np.flatnonzero(county == k)
        seat_cell = cells[np.argmin((cx[cells] - sx[k]) ** 2 + (cy[cells] - sy[k]) ** 2)]
        others = _sample_cells(
            rng, cells[cells != seat_cell], base[cells[cells != seat_cell]] ** 0.7, n_t - 1
        )
        t_cell += [seat_cell, *others.tolist()]
        t_county += [k] * n_t
    t_cell_a, t_county_a = np.array(t_cell), np.array(t_county)
    tx, ty = cx[t_cell_a], cy[t_cell_a]
    township = _nearest_within_parent(cx, cy, county, tx, ty, t_county_a)
    t_urban = is_urban_county[t_county_a]
    pop_w = base + _bumps(cx, cy, tx, ty, np.full(len(tx), 700.0), np.where(t_urban, 10.0, 6.0))
    population = np.zeros(len(inside))
    for k, c in enumerate(COUNTIES):
        sel = county == k
        population[sel] = pop_w[sel] / pop_w[sel].sum() * c[4]
    density = population / (CELL_SIZE_M**2 / 1e6)  # persons per km2
    urban = np.clip(np.log10(np.maximum(density, 1.0)) / 4.0, 0, 1)

    # communities within townships, grid cells within communities
    t_pop = np.bincount(township, weights=population, minlength=len(tx))
    c_town, c_cell = [], []
    for t in range(len(tx)):
        cells = np.flatnonzero(township == t)
        n_c = max(1, round(t_pop[t] / cfg.people_per_community))
        chosen = _sample_cells(rng, cells, population[cells] + 1e-3, n_c)
        c_cell += chosen.tolist()
        c_town += [t] * len(chosen)
    c_cell_a, c_town_a = np.array(c_cell), np.array(c_town)
    community = _nearest_within_parent(cx, cy, township, cx[c_cell_a], cy[c_cell_a], c_town_a)
    c_pop = np.bincount(community, weights=population, minlength=len(c_cell_a))
    g_comm, g_cell = [], []
    for ci in range(len(c_cell_a)):
        cells = np.flatnonzero(community == ci)
        n_g = max(1, round(float(c_pop[ci]) / cfg.people_per_grid))
        chosen = _sample_cells(rng, cells, population[cells] + 1e-3, n_g)
        g_cell += chosen.tolist()
        g_comm += [ci] * len(chosen)
    g_cell_a, g_comm_a = np.array(g_cell), np.array(g_comm)
    mgmt = _nearest_within_parent(cx, cy, community, cx[g_cell_a], cy[g_cell_a], g_comm_a)

    # polygons (projected), nested
    town_polys = np.empty(len(tx), dtype=object)
    for k in range(len(COUNTIES)):
        idx = np.flatnonzero(t_county_a == k)
        town_polys[idx] = _voronoi_within(county_polys[k], tx[idx], ty[idx])
    comm_polys = np.empty(len(c_cell_a), dtype=object)
    for t in range(len(tx)):
        idx = np.flatnonzero(c_town_a == t)
        comm_polys[idx] = _voronoi_within(town_polys[t], cx[c_cell_a[idx]], cy[c_cell_a[idx]])
    grid_polys = np.empty(len(g_cell_a), dtype=object)
    for ci in range(len(c_cell_a)):
        idx = np.flatnonzero(g_comm_a == ci)
        grid_polys[idx] = _voronoi_within(comm_polys[ci], cx[g_cell_a[idx]], cy[g_cell_a[idx]])

    # codes and names
    county_codes = np.array([c[0] for c in COUNTIES])
    t_seq = pd.Series(t_county_a).groupby(t_county_a).cumcount().to_numpy() + 1
    t_codes = np.char.add(county_codes[t_county_a], np.char.zfill(t_seq.astype(str), 3))
    c_seq = pd.Series(c_town_a).groupby(c_town_a).cumcount().to_numpy() + 1
    c_codes = np.char.add(t_codes[c_town_a], np.char.zfill(c_seq.astype(str), 3))
    g_seq = pd.Series(g_comm_a).groupby(g_comm_a).cumcount().to_numpy() + 1
    g_codes = np.char.add(c_codes[g_comm_a], np.char.zfill(g_seq.astype(str), 3))
    t_names = _place_names(
        rng, len(tx), np.where(t_urban, "街道", np.where(rng.random(len(tx)) < 0.8, "镇", "乡"))
    )
    c_urb = urban[c_cell_a] > 0.55
    c_names = _place_names(rng, len(c_cell_a), np.where(c_urb, "社区", "村"))

    county_pop = np.bincount(county, weights=population, minlength=len(COUNTIES))
    c_pop_final = np.bincount(community, weights=population, minlength=len(c_cell_a))
    g_pop = np.bincount(mgmt, weights=population, minlength=len(g_cell_a))
    wkt_all = _to_wkt(np.concatenate([[outline], county_polys, town_polys, comm_polys, grid_polys]))
    n1, n2, n3 = (
        1 + len(COUNTIES),
        1 + len(COUNTIES) + len(tx),
        1 + len(COUNTIES) + len(tx) + len(c_cell_a),
    )
    admin = pd.DataFrame(
        {
            "code": np.concatenate([[CITY_CODE], county_codes, t_codes, c_codes]),
            "name": np.concatenate([[CITY_NAME], [c[1] for c in COUNTIES], t_names, c_names]),
            "level": ["city"]
            + ["county"] * len(COUNTIES)
            + ["township"] * len(tx)
            + ["community"] * len(c_cell_a),
            "parent_code": np.concatenate(
                [[""], [CITY_CODE] * len(COUNTIES), county_codes[t_county_a], t_codes[c_town_a]]
            ),
            "geometry_wkt": wkt_all[:n3],
            "population": np.concatenate([[population.sum()], county_pop, t_pop, c_pop_final])
            .round()
            .astype(np.int64),
        }
    )
    grid = pd.DataFrame(
        {
            "grid_code": g_codes,
            "community_code": c_codes[g_comm_a],
            "geometry_wkt": wkt_all[n3:],
            "population": g_pop.round().astype(np.int64),
        }
    )
    del n1, n2

    def raster(values: np.ndarray, fill: float | int, dtype: type) -> np.ndarray:
        out = np.full(mask.size, fill, dtype=dtype)
        out[inside] = values
        return out.reshape(mask.shape)

    return Geography(
        ix0=ix0,
        iy0=iy0,
        mask=mask,
        population=raster(population, 0.0, np.float64),
        mountain=raster(mountain, 0.0, np.float64),
        urban=raster(urban, 0.0, np.float64),
        county=raster(county, -1, np.int64),
        township=raster(township, -1, np.int64),
        community=raster(community, -1, np.int64),
        mgmt_grid=raster(mgmt, -1, np.int64),
        admin=admin,
        township_codes=t_codes,
        community_codes=c_codes,
        community_township=c_town_a,
        grid=grid,
    )
