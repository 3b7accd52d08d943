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
    offsets: Tensor,  # [num_tiles + 1] long (CPU)
    grid: TileGrid,
    chunk: int = 512,
) -> Tensor:  # [H_pad, W_pad, D + 1], last channel = accumulated alpha
    return _Composite.apply(coefs, colors, offsets, grid, chunk)


class _Composite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, coefs, colors, offsets, grid: TileGrid, chunk: int):
        feat = grid.pixel_monomials(coefs.device, coefs.dtype)
        colors1 = torch.cat([colors, torch.ones_like(colors[:, :1])], dim=-1)
        out = coefs.new_zeros(grid.num_tiles, feat.shape[0], colors1.shape[1])
        bounds = offsets.tolist()
        ends = list(bounds[1:])  # per tile: end of the Gaussians actually used
        for t in range(grid.num_tiles):
            s, e = bounds[t], bounds[t + 1]
            log_t = coefs.new_zeros(feat.shape[0])
            for c0 in range(s, e, chunk):
                c1 = min(c0 + chunk, e)
                alpha, la, log_t_excl, include = _chunk_alpha(feat, coefs[c0:c1], log_t)
                w = torch.where(include, alpha * torch.exp(log_t_excl), 0.0)
                out[t] += w @ colors1[c0:c1]
                log_t = log_t + la.sum(-1)
                if bool((log_t <= LOG_T_MIN).all()):
                    ends[t] = c1
                    break
        ctx.save_for_backward(coefs, colors1)
        ctx.grid, ctx.chunk, ctx.bounds, ctx.ends = grid, chunk, bounds, ends
        return _tiles_to_image(out, grid)

    @staticmethod
    def backward(ctx, grad_img):
        coefs, colors1 = ctx.saved_tensors
        grid, chunk = ctx.grid, ctx.chunk
        feat = grid.pixel_monomials(coefs.device, coefs.dtype)
        grad_tiles = _image_to_tiles(grad_img.contiguous(), grid)  # [T, P, D+1]
        d_coefs = torch.zeros_like(coefs)
        d_colors = torch.zeros_like(colors1)
        for t in range(grid.num_tiles):
            s, e = ctx.bounds[t], ctx.ends[t]
            if e <= s:
                continue
            g = grad_tiles[t]
            # forward again to get each chunk's starting transmittance
            starts, log_t = [], coefs.new_zeros(feat.shape[0])
            for c0 in range(s, e, chunk):
                starts.append(log_t)
                c1 = min(c0 + chunk, e)
                e_ = feat @ coefs[c0:c1].T
                alpha = _clamped_alpha(e_)[0]
                log_t = log_t + torch.log1p(-alpha).sum(-1)
            suffix = coefs.new_zeros(feat.shape[0])  # S carried from later chunks
            for ci in reversed(range(len(starts))):
                c0 = s + ci * chunk
                c1 = min(c0 + chunk, e)
                suffix = _chunk_backward(
                    feat, coefs[c0:c1], colors1[c0:c1], starts[ci], g, suffix, d_coefs[c0:c1], d_colors[c0:c1]
                )
        return d_coefs, d_colors[:, :-1], None, None, None


def _clamped_alpha(e: Tensor) -> tuple[Tensor, Tensor]:
    """alpha = min(0.999, exp(-E)), zeroed below 1/255; and the mask where d alpha / dE != 0."""
    raw = torch.exp(-e)
    live = (raw >= ALPHA_MIN) & (raw < ALPHA_MAX)
    alpha = torch.where(raw >= ALPHA_MIN, raw.clamp_max(ALPHA_MAX), 0.0)
    return alpha, live


def _chunk_alpha(feat: Tensor, coefs: Tensor, log_t0: Tensor):
    alpha = _clamped_alpha(feat @ coefs.T)[0]  # [P, g]
    la = torch.log1p(-alpha)
    log_t_after = log_t0.unsqueeze(-1) + torch.cumsum(la, dim=-1)
    include = log_t_after > LOG_T_MIN
    return alpha, la, log_t_after - la, include


def _chunk_backward(feat, coefs, colors1, log_t0, g, suffix, d_coefs_out, d_colors_out):
    """Accumulate this chunk's gradients in place; return S for the chunk before it."""
    raw_e = feat @ coefs.T
    alpha, live = _clamped_alpha(raw_e)
    la = torch.log1p(-alpha)
    log_t_after = log_t0.unsqueeze(-1) + torch.cumsum(la, dim=-1)
    include = log_t_after > LOG_T_MIN
    trans = torch.exp(log_t_after - la)
    w = torch.where(include, alpha * trans, 0.0)  # [P, g]
    gc = g @ colors1.T  # [P, g]  <g, c_i>
    wgc = w * gc
    after = torch.flip(torch.cumsum(torch.flip(wgc, [-1]), -1), [-1]) - wgc + suffix.unsqueeze(-1)
    d_alpha = torch.where(include, trans * gc - after / (1.0 - alpha), 0.0)
    d_e = torch.where(live, -alpha * d_alpha, 0.0)
    d_coefs_out += d_e.T @ feat
    d_colors_out += w.T @ g
    return suffix + wgc.sum(-1)


def _tiles_to_image(tiles: Tensor, grid: TileGrid) -> Tensor:  # [T, P, D] -> [Hp, Wp, D]
    ts, d = grid.tile_size, tiles.shape[-1]
    img = tiles.reshape(grid.tiles_y, grid.tiles_x, ts, ts, d).permute(0, 2, 1, 3, 4)
    return img.reshape(grid.tiles_y * ts, grid.tiles_x * ts, d)


def _image_to_tiles(img: Tensor, grid: TileGrid) -> Tensor:  # [Hp, Wp, D] -> [T, P, D]
    ts, d = grid.tile_size, img.shape[-1]
    t = img.reshape(grid.tiles_y, ts, grid.tiles_x, ts, d).permute(0, 2, 1, 3, 4)
    return t.reshape(grid.num_tiles, ts * ts, d)
