"""Tile-based front-to-back alpha compositing of screen-space Gaussians, in pure torch.

Kerbl et al., "3D Gaussian Splatting" (SIGGRAPH 2023), sec. 6: the image is cut into 16x16
tiles; each tile composites the depth-sorted Gaussians whose bounding box touches it,
    C = sum_i c_i a_i T_i,   T_i = prod_{j<i} (1 - a_j),   a_i = min(0.999, o_i exp(-sigma_i)),
skipping a_i < 1/255 and stopping a pixel before T would drop to 1e-4 (gsplat's thresholds).

Here each tile is evaluated densely: the Mahalanobis term sigma of every (pixel, Gaussian)
pair is one matmul of per-pixel monomials [u^2, v^2, uv, u, v, 1] (tile-local coordinates,
which keeps float32 cancellation small) with per-Gaussian quadratic-form coefficients, and
transmittance is a cumulative sum of log(1 - a). Gaussians are taken in depth-ordered chunks
and a tile stops as soon as all its pixels are saturated.

The backward pass is written by hand (a torch.autograd.Function): it recomputes each chunk
instead of storing [pixels x Gaussians] intermediates, so memory stays bounded by one chunk
of one tile whatever the scene size. For the Gaussian i of a pixel with upstream grad g:
    dL/dc_i = a_i T_i g,
    dL/da_i = T_i <g, c_i> - S_i / (1 - a_i),   S_i = sum_{k>i} a_k T_k <g, c_k>.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .projection import ALPHA_MIN

ALPHA_MAX = 0.999  # gsplat's clamp (the INRIA rasterizer uses 0.99)
T_MIN = 1e-4  # a pixel is done before its transmittance would fall to this
LOG_T_MIN = math.log(T_MIN)


@dataclass
class TileGrid:
    """How the (padded) image is cut into square tiles."""

    width: int
    height: int
    tile_size: int

    @property
    def tiles_x(self) -> int:
        return -(-self.width // self.tile_size)

    @property
    def tiles_y(self) -> int:
        return -(-self.height // self.tile_size)

    @property
    def num_tiles(self) -> int:
        return self.tiles_x * self.tiles_y

    def centres(self, device, dtype) -> Tensor:  # [num_tiles, 2] pixel coords of tile centres
        ts = self.tile_size
        ty, tx = torch.meshgrid(
            torch.arange(self.tiles_y, device=device), torch.arange(self.tiles_x, device=device), indexing="ij"
        )
        return torch.stack([tx, ty], dim=-1).reshape(-1, 2).to(dtype) * ts + 0.5 * ts

    def pixel_monomials(self, device, dtype) -> Tensor:  # [P, 6] (u^2, v^2, uv, u, v, 1)
        ts = self.tile_size
        r = torch.arange(ts, device=device, dtype=dtype) + 0.5 - 0.5 * ts
        v, u = torch.meshgrid(r, r, indexing="ij")
        u, v = u.reshape(-1), v.reshape(-1)
        return torch.stack([u * u, v * v, u * v, u, v, torch.ones_like(u)], dim=-1)


def tile_intersections(
    means2d: Tensor,  # [M, 2] depth-sorted Gaussians
    radii: Tensor,  # [M, 2] long
    grid: TileGrid,
) -> tuple[Tensor, Tensor, Tensor]:
    """(gaussian index, tile index) pairs sorted by tile then depth, and per-tile offsets."""
    with torch.no_grad():
        ts = grid.tile_size
        lo = torch.floor((means2d - radii) / ts).long()
        hi = torch.ceil((means2d + radii) / ts).long()
        x0, x1 = lo[:, 0].clamp(0, grid.tiles_x), hi[:, 0].clamp(0, grid.tiles_x)
        y0, y1 = lo[:, 1].clamp(0, grid.tiles_y), hi[:, 1].clamp(0, grid.tiles_y)
        wx = (x1 - x0).clamp_min(0)
        counts = wx * (y1 - y0).clamp_min(0)
        gid = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
        start = torch.cumsum(counts, 0) - counts
        k = torch.arange(len(gid), device=gid.device) - start[gid]
        wg = wx[gid].clamp_min(1)
        tid = (y0[gid] + k // wg) * grid.tiles_x + x0[gid] + k % wg
        tid, order = torch.sort(tid, stable=True)  # keeps the depth order within a tile
        gid = gid[order]
        offsets = torch.zeros(grid.num_tiles + 1, dtype=torch.long, device=gid.device)
        offsets[1:] = torch.cumsum(torch.bincount(tid, minlength=grid.num_tiles), 0)
    return gid, tid, offsets


def quadratic_coefficients(
    means_local: Tensor,  # [I, 2] Gaussian centre minus tile centre
    conics: Tensor,  # [I, 3] (a, b, c)
    log_opacity: Tensor,  # [I]
) -> Tensor:  # [I, 6]
    """E(u, v) = sigma(u, v) - log(o) as coefficients of (u^2, v^2, uv, u, v, 1).

    sigma = 0.5 (a du^2 + c dv^2) + b du dv with (du, dv) = (u - mx, v - my), so alpha = exp(-E).
    """
    mx, my = means_local.unbind(-1)
    a, b, c = conics.unbind(-1)
    const = 0.5 * a * mx * mx + 0.5 * c * my * my + b * mx * my - log_opacity
    return torch.stack([0.5 * a, 0.5 * c, b, -(a * mx + b * my), -(c * my + b * mx), const], dim=-1)


def composite_tiles(
    coefs: Tensor,  # [I, 6] per intersection, sorted by tile then depth
    colors: Tensor,  # [I, D] per intersection
    offsets: Tensor,  # [num_tiles + 1] long
    grid: TileGrid,
    budget: int = 1 << 17,
) -> Tensor:  # [H_pad, W_pad, D + 1], last channel = accumulated alpha
    """Composite every tile; `budget` bounds the (tile, pixel, Gaussian) triples per step."""
    return _Composite.apply(coefs, colors, offsets, grid, budget)


@dataclass
class _Step:
    """One batched step: `tiles` each composite their Gaussians [k, k + n) (padded)."""

    tiles: Tensor  # [A] long
    idx: Tensor  # [A, n] intersection rows, padding rows point at the dummy row
    log_t0: Tensor  # [A, P] log transmittance before the step


class _Composite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, coefs, colors, offsets, grid: TileGrid, budget: int):
        feat = grid.pixel_monomials(coefs.device, coefs.dtype)
        coefs1, colors1 = _with_dummy_row(coefs, colors)
        out = coefs.new_zeros(grid.num_tiles, feat.shape[0], colors1.shape[1])
        log_t = coefs.new_zeros(grid.num_tiles, feat.shape[0])
        steps = []
        for step in _schedule(offsets, feat.shape[0], budget, log_t):
            alpha, la, log_t_excl, include, _live = _chunk_alpha(feat, coefs1[step.idx], step.log_t0)
            w = torch.where(include, alpha * torch.exp(log_t_excl), 0.0)
            out[step.tiles] += w @ colors1[step.idx]
            log_t[step.tiles] = step.log_t0 + la.sum(-1)
            steps.append(step)
        ctx.save_for_backward(coefs1, colors1)
        ctx.grid, ctx.steps = grid, steps
        return _tiles_to_image(out, grid)

    @staticmethod
    def backward(ctx, grad_img):
        coefs1, colors1 = ctx.saved_tensors
        feat = ctx.grid.pixel_monomials(coefs1.device, coefs1.dtype)
        grad_tiles = _image_to_tiles(grad_img.contiguous(), ctx.grid)  # [T, P, D+1]
        d_coefs, d_colors = torch.zeros_like(coefs1), torch.zeros_like(colors1)
        suffix = coefs1.new_zeros(grad_tiles.shape[:2])  # S carried from later steps, per tile
        for step in reversed(ctx.steps):
            d_co, d_cl, s = _chunk_backward(
                feat, coefs1[step.idx], colors1[step.idx], step.log_t0, grad_tiles[step.tiles], suffix[step.tiles]
            )
            d_coefs.index_add_(0, step.idx.reshape(-1), d_co.reshape(-1, d_co.shape[-1]))
            d_colors.index_add_(0, step.idx.reshape(-1), d_cl.reshape(-1, d_cl.shape[-1]))
            suffix[step.tiles] += s
        return d_coefs[:-1], d_colors[:-1, :-1], None, None, None


def _with_dummy_row(coefs: Tensor, colors: Tensor) -> tuple[Tensor, Tensor]:
    """Append a never-visible Gaussian (alpha = exp(-1e4) = 0) used to pad steps; colours get a 1."""
    dummy = coefs.new_zeros(1, coefs.shape[1])
    dummy[0, -1] = 1e4
    colors1 = torch.cat([colors, torch.ones_like(colors[:, :1])], dim=-1)
    return torch.cat([coefs, dummy]), torch.cat([colors1, torch.zeros_like(colors1[:1])])


def _schedule(offsets: Tensor, pixels: int, budget: int, log_t: Tensor):
    """Yield steps front to back; a tile drops out when its list ends or its pixels saturate.

    Tiles are taken in groups so that one step touches at most ~`budget` (pixel, Gaussian) pairs.
    """
    offsets = offsets.to(log_t.device)
    starts, counts = offsets[:-1], offsets[1:] - offsets[:-1]
    dummy = int(offsets[-1])
    busy = torch.nonzero(counts > 0).squeeze(-1)
    group = max(1, budget // (pixels * 16))  # at least 16 Gaussians per tile per step
    for g0 in range(0, len(busy), group):
        tiles, k = busy[g0 : g0 + group], 0
        while len(tiles):
            n = max(1, budget // (len(tiles) * pixels))
            n = min(n, int(counts[tiles].max()) - k)
            pos = k + torch.arange(n, device=offsets.device)
            idx = torch.where(pos < counts[tiles, None], starts[tiles, None] + pos, dummy)
            yield _Step(tiles, idx, log_t[tiles])
            k += n
            alive = (counts[tiles] > k) & (log_t[tiles] > LOG_T_MIN).any(-1)
            tiles = tiles[alive]


def _clamped_alpha(e: Tensor) -> tuple[Tensor, Tensor]:
    """alpha = min(0.999, exp(-E)), zeroed below 1/255; and the mask where d alpha / dE != 0."""
    raw = torch.exp(-e)
    live = (raw >= ALPHA_MIN) & (raw < ALPHA_MAX)
    alpha = torch.where(raw >= ALPHA_MIN, raw.clamp_max(ALPHA_MAX), 0.0)
    return alpha, live


def _chunk_alpha(feat: Tensor, coefs: Tensor, log_t0: Tensor):
    """For A tiles x P pixels x n Gaussians: alpha, log(1-alpha), log T before each, included, and
    where d alpha / dE != 0."""
    alpha, live = _clamped_alpha(feat @ coefs.transpose(-1, -2))  # [A, P, n]
    la = torch.log1p(-alpha)
    log_t_after = log_t0.unsqueeze(-1) + torch.cumsum(la, dim=-1)
    include = log_t_after > LOG_T_MIN
    return alpha, la, log_t_after - la, include, live


def _chunk_backward(feat, coefs, colors1, log_t0, g, suffix):
    """Gradients of one step: d coefs [A,n,6], d colours [A,n,D+1], and its share of S [A,P]."""
    alpha, _la, log_t_excl, include, live = _chunk_alpha(feat, coefs, log_t0)
    trans = torch.exp(log_t_excl)
    w = torch.where(include, alpha * trans, 0.0)  # [A, P, n]
    gc = g @ colors1.transpose(-1, -2)  # [A, P, n]  <g, c_i>
    wgc = w * gc
    after = torch.flip(torch.cumsum(torch.flip(wgc, [-1]), -1), [-1]) - wgc + suffix.unsqueeze(-1)
    d_alpha = torch.where(include, trans * gc - after / (1.0 - alpha), 0.0)
    d_e = torch.where(live, -alpha * d_alpha, 0.0)
    return d_e.transpose(-1, -2) @ feat, w.transpose(-1, -2) @ g, wgc.sum(-1)


def _tiles_to_image(tiles: Tensor, grid: TileGrid) -> Tensor:  # [T, P, D] -> [Hp, Wp, D]
    ts, d = grid.tile_size, tiles.shape[-1]
    img = tiles.reshape(grid.tiles_y, grid.tiles_x, ts, ts, d).permute(0, 2, 1, 3, 4)
    return img.reshape(grid.tiles_y * ts, grid.tiles_x * ts, d)


def _image_to_tiles(img: Tensor, grid: TileGrid) -> Tensor:  # [Hp, Wp, D] -> [T, P, D]
    ts, d = grid.tile_size, img.shape[-1]
    t = img.reshape(grid.tiles_y, ts, grid.tiles_x, ts, d).permute(0, 2, 1, 3, 4)
    return t.reshape(grid.num_tiles, ts * ts, d)
