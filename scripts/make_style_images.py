#!/usr/bin/env python
"""Procedurally generate the *style* images used for neural style transfer.

Usage::

    python scripts/make_style_images.py            # writes every style image
    python scripts/make_style_images.py swirls     # only the named ones

Every picture is drawn from scratch with numpy, scipy and Pillow; nothing is
downloaded and no third-party artwork is used, so the results are free of
copyright claims (CC0, see images/CREDITS.md).  Each image has its own
``numpy.random.RandomState(seed)``, so running the script again rewrites the
files byte for byte identically (given the same numpy/scipy/Pillow builds).

Images (512 x 512 JPEG each):

* ``swirls.jpg``      - night sky of short, thick, curved brush strokes that
                         follow a vortex flow field (deep blues, yellow stars).
* ``mosaic.jpg``      - glazed Persian-style (kashi) tiles: 8-point stars,
                         rosettes, grout, glaze shading, gloss and crackle.
* ``marble.jpg``      - paper marbling: ink drops, combs and vortices applied
                         with the "mathematical marbling" maps of Jaffer et al.
* ``pointillism.jpg`` - a sunset seascape painted with dense dabs of pure,
                         partly complementary colours.
* ``cubist.jpg``      - angular, shaded shards with dark outlines in an ochre,
                         umber and grey-blue palette.
"""

import os
import sys
import time

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.spatial import cKDTree

OUT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "images")
SIZE = 512  # final edge length in pixels
SS = 2  # supersampling factor used while drawing (anti-aliasing)
JPEG_QUALITY = 92


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def hexcols(*codes):
    """'#rrggbb' strings -> float array (n, 3) in [0, 1]."""
    return np.array([[int(c[i : i + 2], 16) / 255.0 for i in (1, 3, 5)] for c in codes])


def smooth_noise(rs, shape, sigma):
    """Gaussian-filtered white noise, zero mean, unit standard deviation."""
    n = ndimage.gaussian_filter(rs.standard_normal(shape), sigma, mode="wrap")
    return (n - n.mean()) / (n.std() + 1e-12)


def fbm(rs, shape, sigma, octaves=4, gain=0.5):
    """Sum of smooth noises at halving scales (fractal noise), unit std."""
    total = np.zeros(shape)
    amp = 1.0
    for _ in range(octaves):
        total += amp * smooth_noise(rs, shape, sigma)
        sigma = max(sigma / 2.0, 0.5)
        amp *= gain
    return total / total.std()


def smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def to_image(arr):
    """float (h, w, 3) in [0, 1] -> PIL RGB image."""
    return Image.fromarray(np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8))


def downsample(img, size=SIZE):
    if isinstance(img, np.ndarray):
        img = to_image(img)
    return img.resize((size, size), Image.LANCZOS)


def save(img, name):
    path = os.path.join(OUT_DIR, name)
    img.save(path, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    return path


# --------------------------------------------------------------------------
# 1. swirls.jpg - Starry-Night-like brush strokes along a vortex flow field
# --------------------------------------------------------------------------
def make_swirls(seed=1889):
    rs = np.random.RandomState(seed)
    W = SIZE * SS
    yy, xx = np.mgrid[0:W, 0:W] / float(W)  # normalised coordinates

    # --- direction field -------------------------------------------------
    # background: wind blowing to the right with slow waves and turbulence
    turb = fbm(rs, (W // 4, W // 4), 10, octaves=3)
    turb = ndimage.zoom(turb, 4, order=1)
    ang = (
        0.35 * np.sin(2 * np.pi * (1.4 * xx + 0.6 * yy))
        + 0.25 * np.sin(2 * np.pi * (2.7 * xx - 1.3 * yy) + 1.0)
        + 0.35 * turb
    )
    dx = np.cos(ang)
    dy = np.sin(ang)

    horizon = 0.74 + 0.05 * np.sin(2 * np.pi * (1.1 * xx[0] + 0.2)) + 0.03 * np.sin(2 * np.pi * 3.3 * xx[0])
    ground = yy > horizon[None, :]
    # hills: strokes follow the slope of the horizon line
    slope = np.gradient(horizon) * W
    gdx = np.ones_like(slope)
    gdy = slope
    gn = np.hypot(gdx, gdy)
    dx = np.where(ground, (gdx / gn)[None, :], dx)
    dy = np.where(ground, (gdy / gn)[None, :], dy)

    # vortices: (x, y, radius, spin, kind); kind 0 = star, 1 = moon, 2 = swirl
    vortices = [(0.40, 0.38, 0.17, -1, 2), (0.63, 0.33, 0.13, 1, 2), (0.86, 0.14, 0.09, 1, 1)]
    for _ in range(8):
        while True:
            cx, cy = rs.uniform(0.04, 0.96), rs.uniform(0.04, 0.62)
            if all(np.hypot(cx - v[0], cy - v[1]) > v[2] + 0.1 for v in vortices) and abs(cx - 0.17) > 0.09:
                break
        vortices.append((cx, cy, rs.uniform(0.022, 0.04), 1, 0))
    for cx, cy, rad, spin, kind in vortices:
        r = np.hypot(xx - cx, yy - cy) + 1e-9
        w = np.exp(-((r / (rad * (1.6 if kind == 2 else 1.9))) ** 4))
        tx, ty = -spin * (yy - cy) / r, spin * (xx - cx) / r
        if kind == 2:  # spiral slightly inwards: a galaxy-like swirl
            tx, ty = tx - 0.25 * (xx - cx) / r, ty - 0.25 * (yy - cy) / r
        dx = (1 - w) * dx + w * tx
        dy = (1 - w) * dy + w * ty

    # cypress: a dark flame shape on the left, strokes run upwards
    cyp_x = 0.17 + 0.02 * np.sin(yy * 14.0)
    cyp_w = 0.075 * np.clip((yy - 0.10) / 0.9, 0, 1) ** 0.7
    cypress = (np.abs(xx - cyp_x) < cyp_w) & (yy > 0.10)
    cyp_d = np.clip(1 - np.abs(xx - cyp_x) / (cyp_w + 1e-9), 0, 1)
    wob = np.sin(yy * 60.0 + xx * 20) * 0.6
    dx = np.where(cypress, 0.35 * wob, dx)
    dy = np.where(cypress, -1.0, dy)
    norm = np.hypot(dx, dy) + 1e-9
    dx, dy = ndimage.gaussian_filter(dx / norm, 2), ndimage.gaussian_filter(dy / norm, 2)
    norm = np.hypot(dx, dy) + 1e-9
    dx, dy = dx / norm, dy / norm

    # --- colour field ------------------------------------------------------
    sky = hexcols("#07143d", "#0d2463", "#17378a", "#2450a8", "#3a6dbf", "#5e8fcf", "#8db3dc", "#bcd6de")
    lum = 0.45 + 0.22 * fbm(rs, (W, W), 60, octaves=3)
    glow = np.zeros((W, W))
    for cx, cy, rad, spin, kind in vortices:
        r = np.hypot(xx - cx, yy - cy)
        if kind == 2:  # two bright spiral arms
            th = np.arctan2(yy - cy, xx - cx)
            arm = 0.5 + 0.5 * np.cos(2 * th + spin * 9.0 * r / rad)
            glow += 0.8 * arm**3 * np.exp(-((r / (1.15 * rad)) ** 4))
        else:
            glow += 0.6 * np.exp(-((r / (2.6 * rad)) ** 2))
    lum = np.clip(lum + 0.5 * glow, 0, 0.999)
    color = sky[(lum * len(sky)).astype(int)]

    star_cols = hexcols("#fffbe0", "#fbe97a", "#f2cf3a", "#e0a91f", "#f6ecb0", "#c9e0c8", "#9cc6d9")
    for cx, cy, rad, _spin, kind in vortices:
        if kind == 2:
            continue
        r = np.hypot(xx - cx, yy - cy) / rad
        # rings: bright core, yellow ring, pale halo rings
        idx = np.clip((r * 3.2).astype(int), 0, 6)
        ring = r < 2.15
        color = np.where(ring[..., None], star_cols[idx], color)

    hills = hexcols("#0b1a33", "#132a4a", "#1d3b5e", "#2d5270", "#3f6468", "#4d6b46", "#27402f")
    gl = np.clip(0.5 + 0.25 * fbm(rs, (W, W), 25, octaves=3), 0, 0.999)
    color = np.where(ground[..., None], hills[(gl * len(hills)).astype(int)], color)
    cyp_cols = hexcols("#0a0f0a", "#1a2414", "#2b3a1e", "#46472a", "#5e5733")
    cl = np.clip(0.15 + 0.5 * cyp_d + 0.2 * fbm(rs, (W, W), 8, 2), 0, 0.999)
    color = np.where(cypress[..., None], cyp_cols[(cl * 5).astype(int)], color)

    # --- paint -----------------------------------------------------------
    base = ndimage.gaussian_filter(color, (6, 6, 0))
    canvas = to_image(base)
    draw = ImageDraw.Draw(canvas)

    def sample(arr, px, py):
        return arr[np.clip(py.astype(int), 0, W - 1), np.clip(px.astype(int), 0, W - 1)]

    # (number of strokes, half length in px, width in px) - coarse to fine
    layers = [(2600, 16, 15), (5200, 11, 10), (9000, 7, 6)]
    for n, half, width in layers:
        px = rs.uniform(-10, W + 10, n)
        py = rs.uniform(-10, W + 10, n)
        steps = max(3, half // 2)
        h = half / steps
        fwd = [(px.copy(), py.copy())]
        bwd = []
        for sign, out in ((1, fwd), (-1, bwd)):
            x, y = px.copy(), py.copy()
            for _ in range(steps):
                x = x + sign * h * sample(dx, x, y)
                y = y + sign * h * sample(dy, x, y)
                out.append((x.copy(), y.copy()))
        pts = bwd[::-1] + fwd
        X = np.stack([p[0] for p in pts], 1)
        Y = np.stack([p[1] for p in pts], 1)
        col = sample(color, px, py)
        col = col * rs.uniform(0.9, 1.12, (n, 1)) + rs.normal(0, 0.025, (n, 3))
        shade = np.clip(col * 0.62, 0, 1)
        light = np.clip(col * 1.18 + 0.06, 0, 1)
        col = np.clip(col, 0, 1)
        wid = np.maximum(2, (width * rs.uniform(0.7, 1.25, n)).astype(int))
        for i in range(n):
            line = list(zip(X[i].tolist(), Y[i].tolist()))
            w = int(wid[i])
            # impasto: dark rim, body, light ridge on one side
            draw.line(
                [(a + 1.5, b + 1.5) for a, b in line],
                fill=tuple((shade[i] * 255).astype(int)),
                width=w + 2,
                joint="curve",
            )
            fill = tuple((col[i] * 255).astype(int))
            draw.line(line, fill=fill, width=w, joint="curve")
            for a, b in (line[0], line[-1]):  # rounded stroke ends
                draw.ellipse((a - w / 2, b - w / 2, a + w / 2, b + w / 2), fill=fill)
            draw.line(
                [(a - w * 0.2, b - w * 0.2) for a, b in line],
                fill=tuple((light[i] * 255).astype(int)),
                width=max(1, w // 4),
                joint="curve",
            )
    return downsample(canvas)


# --------------------------------------------------------------------------
# 2. mosaic.jpg - glazed Persian (kashi) tiles
# --------------------------------------------------------------------------
def make_mosaic(seed=1611):
    rs = np.random.RandomState(seed)
    W = SIZE * SS
    T = W / 6.0  # tile pitch (6 x 6 tiles)
    y, x = np.mgrid[0:W, 0:W].astype(float)
    # hand-made tiles: slightly wobbly lines
    u = x + 3.0 * smooth_noise(rs, (W, W), 40)
    v = y + 3.0 * smooth_noise(rs, (W, W), 40)
    ti = np.floor(u / T).astype(int)
    tj = np.floor(v / T).astype(int)
    lx = u / T - ti - 0.5  # tile-local, in [-0.5, 0.5)
    ly = v / T - tj - 0.5
    nt = int(np.ceil(W / T)) + 2
    tid = (tj + 1) * nt + (ti + 1)  # tile id >= 0
    parity = (ti + tj) % 2

    cob, cob2, tur, tur2, wht, och, blk = hexcols(
        "#1d3a8f", "#2a55b0", "#1f9aa0", "#4cc0bb", "#efe8d6", "#d49a34", "#1c1a24"
    )
    out_w = 0.014  # outline half width

    r = np.hypot(lx, ly)
    th = np.arctan2(ly, lx)
    # signed "distance" of an 8-point star (union of two squares)
    sq1 = np.maximum(np.abs(lx), np.abs(ly))
    sq2 = np.maximum(np.abs(lx + ly), np.abs(lx - ly)) / np.sqrt(2)
    star8 = np.minimum(sq1, sq2)
    # corner circles (a full circle appears where four tiles meet)
    cx = 0.5 - np.abs(lx)
    cy = 0.5 - np.abs(ly)
    corner = np.hypot(cx, cy)

    col = np.empty((W, W, 3))
    outline = np.zeros((W, W), bool)

    def paint(mask, c):
        col[mask] = c

    def ring(d, r0):
        return np.abs(d - r0) < out_w

    # type A (even): cobalt ground, turquoise 8-point star, white inner star,
    # ochre centre, rosette of white dots
    A = parity == 0
    alt = (rs.rand(nt * nt) < 0.25)[tid]  # a few ochre-star tiles
    paint(A, cob)
    paint(A & (star8 < 0.31), tur)
    paint(A & (star8 < 0.31) & alt, och)
    inner = 0.17 * (0.8 + 0.2 * np.abs(np.cos(4 * th)))
    paint(A & (star8 < inner), wht)
    paint(A & (r < 0.06), och)
    # 8 dots on a circle between the star points
    dphi = np.angle(np.exp(1j * (th * 8 + np.pi))) / 8.0
    dots = np.hypot(r - 0.39, 0.39 * dphi)
    paint(A & (dots < 0.028) & (star8 > 0.33), wht)
    outline |= A & (ring(star8, 0.31) | ring(star8, inner) | ring(r, 0.06))

    # type B (odd): white ground, cobalt 4-petal flower with turquoise
    # leaves on the diagonals, small ochre heart
    B = ~A
    paint(B, wht)
    petal = r < 0.34 * np.abs(np.cos(2 * th)) ** 1.4
    leaf = r < 0.30 * np.abs(np.sin(2 * th)) ** 6
    paint(B & leaf & ~petal, tur2)
    paint(B & petal, cob2)
    vein = (np.abs(np.sin(2 * th)) < 0.05) & (r < 0.28) & petal
    paint(B & vein, wht)
    paint(B & (r < 0.07), och)
    pet_d = r / (np.abs(np.cos(2 * th)) ** 1.4 + 1e-6)
    leaf_d = r / (np.abs(np.sin(2 * th)) ** 6 + 1e-6)
    outline |= B & (
        (np.abs(pet_d - 0.34) < out_w / np.maximum(np.abs(np.cos(2 * th)) ** 1.4, 0.2)) & (r < 0.35) | ring(r, 0.07)
    )
    outline |= B & ~petal & (np.abs(leaf_d - 0.30) < out_w / np.maximum(np.abs(np.sin(2 * th)) ** 6, 0.3)) & (r < 0.31)

    # corner circles shared by four tiles: ochre ring, turquoise disc
    paint(corner < 0.21, wht)
    paint(corner < 0.17, tur)
    paint(corner < 0.08, och)
    outline |= ring(corner, 0.21) | ring(corner, 0.17) | ring(corner, 0.08)

    # brushed cuerda-seca outlines with uneven thickness
    wob = smooth_noise(rs, (W, W), 3)
    outline &= wob > -1.6
    col[outline] = blk
    # glaze slightly bleeds into its neighbours
    col = ndimage.gaussian_filter(col, (1.2, 1.2, 0))

    # --- glaze ---------------------------------------------------------------
    ntiles = nt * nt
    tone = rs.uniform(0.9, 1.07, ntiles)[tid]
    hue = rs.normal(0, 0.025, (ntiles, 3))[tid]
    gdir = rs.uniform(0, 2 * np.pi, ntiles)
    grad = (np.cos(gdir)[tid] * lx + np.sin(gdir)[tid] * ly) * 0.12
    col = col * (tone + grad)[..., None] + hue
    # pooling: glaze thicker (darker) inside large colour areas
    pool = fbm(rs, (W, W), 12, octaves=3)
    col *= (1 + 0.05 * pool)[..., None]
    # gloss highlight per tile
    hx = rs.uniform(-0.3, 0.1, ntiles)[tid]
    hy = rs.uniform(-0.3, 0.1, ntiles)[tid]
    gloss = np.exp(-((lx - hx) ** 2 + (ly - hy) ** 2) / 0.02)
    col = col + (0.22 * gloss)[..., None] * (1 - col)
    # fine crackle network
    pts = rs.uniform(0, W, (2200, 2))
    d, _ = cKDTree(pts).query(np.stack([x.ravel(), y.ravel()], 1), k=2)
    crack = (d[:, 1] - d[:, 0]).reshape(W, W) < 0.9
    crack &= smooth_noise(rs, (W, W), 20) > 0.2
    col[crack] *= 0.9
    col += 0.025 * rs.standard_normal((W, W, 1))
    # bevelled tile edges and grout
    edge = 0.5 - np.maximum(np.abs(lx), np.abs(ly))
    col *= (0.8 + 0.2 * smoothstep(0.0, 0.05, edge))[..., None]
    grout_c = hexcols("#9a917f")[0] * (1 + 0.08 * smooth_noise(rs, (W, W), 1.5))[..., None]
    gm = smoothstep(0.022, 0.012, edge + 0.004 * smooth_noise(rs, (W, W), 4))
    col = col * (1 - gm[..., None]) + grout_c * gm[..., None]
    return downsample(col)


# --------------------------------------------------------------------------
# 3. marble.jpg - paper marbling (ink drops, combs, vortices)
# --------------------------------------------------------------------------
def make_marble(seed=1550):
    """Marbling with the closed-form ink maps of Jaffer, Lu et al.
    ("Mathematical marbling", IEEE CG&A 2012).  Every pixel is pulled back
    through the inverse of each operation (newest first) until it lands in
    an ink drop; its colour is the colour of that drop."""
    rs = np.random.RandomState(seed)
    W = SIZE * SS
    y, x = (np.mgrid[0:W, 0:W] + 0.5) / W
    px, py = x.ravel().copy(), y.ravel().copy()

    # small organic wobble (applied last forward, so first here)
    wx = fbm(rs, (W, W), 60, octaves=3).ravel()
    wy = fbm(rs, (W, W), 60, octaves=3).ravel()
    px -= 0.02 * wx
    py -= 0.02 * wy

    # two vortices (inverse: rotate back by the same angle)
    for cx, cy, a, lam in ((0.30, 0.34, -2.2, 0.09), (0.72, 0.68, 2.6, 0.1)):
        dxv, dyv = px - cx, py - cy
        rr = np.hypot(dxv, dyv)
        phi = -a * lam / (rr + lam) * np.exp(-((rr / 0.45) ** 2))
        c, s_ = np.cos(phi), np.sin(phi)
        px, py = cx + c * dxv - s_ * dyv, cy + s_ * dxv + c * dyv

    # fine horizontal comb: many tines at y = k * 0.05 (alternating pull)
    shift = np.zeros_like(px)
    for k in range(-1, 22):
        d = np.abs(py - (k * 0.05 + 0.025))
        shift += (1 if k % 2 else -1) * 0.03 * 0.012 / (d + 0.012)
    px -= shift
    # wide vertical wavy shift ("gel-git") - displacement along y
    py -= 0.07 * np.sin(2 * np.pi * (px * 3.0 + 0.1))
    # coarse vertical comb, tines every 0.125 all pulled downwards
    shift = np.zeros_like(py)
    for k in range(-1, 10):
        d = np.abs(px - k * 0.125)
        shift += 0.09 * 0.02 / (d + 0.02)
    py -= shift

    # ink drops: several rounds of drops on a jittered grid of sites; every
    # new drop pushes the older inks outwards into thin concentric rings
    pal = hexcols(
        "#0b1b4d", "#f5f2ea", "#2347a8", "#c8952e", "#9cc3e8", "#173a8a", "#f5f2ea", "#3a6fc9", "#134f73", "#e3c77a"
    )
    n_site = 6
    g = (np.arange(n_site) + 0.5) / n_site
    sites = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    sites += rs.uniform(-0.06, 0.06, sites.shape)
    cs, rad, cidx = [], [], []
    for rnd in range(15):
        order = rs.permutation(len(sites))
        for i in order:
            c = (rnd + i) % len(pal)
            cs.append(sites[i] + rs.normal(0, 0.004, 2))
            rad.append(rs.uniform(0.025, 0.042) * (0.45 if pal[c][2] < 0.3 else 1.0))
            cidx.append(c)
    cs, rad, cidx = np.array(cs), np.array(rad), np.array(cidx)
    ndrops = len(rad)
    label = np.full(px.shape, -1)
    ox, oy = px.copy(), py.copy()  # where each pixel's ink came from
    todo = np.arange(px.size)
    qx, qy = px, py
    for k in range(ndrops - 1, -1, -1):
        ddx, ddy = qx - cs[k, 0], qy - cs[k, 1]
        d2 = ddx * ddx + ddy * ddy
        inside = d2 < rad[k] ** 2
        label[todo[inside]] = k
        ox[todo[inside]] = qx[inside]
        oy[todo[inside]] = qy[inside]
        keep = ~inside
        f = np.sqrt(1 - rad[k] ** 2 / d2[keep])
        todo = todo[keep]
        qx = cs[k, 0] + ddx[keep] * f
        qy = cs[k, 1] + ddy[keep] * f
    ox[todo], oy[todo] = qx, qy
    label = label.reshape(W, W)
    bath = hexcols("#2a5cb8")[0]  # the first, base colour
    colors = np.where(label[..., None] >= 0, pal[cidx[label]], bath)
    # a little variation inside each ink, thicker ink slightly darker
    var = rs.uniform(0.92, 1.06, ndrops + 1)[label]
    # pigment grain, carried along (and stretched) by the flow: sample a
    # fine noise at the place where the ink was originally dropped
    grain = smooth_noise(rs, (512, 512), 1.5)
    streak = ndimage.map_coordinates(grain, [(oy * 256 + 128), (ox * 256 + 128)], order=1, mode="wrap")
    streak = streak.reshape(W, W)
    col = colors * (var * (1 + 0.07 * streak))[..., None]
    # pigment gathers at the edges of each ink film
    edge = (label != np.roll(label, 1, 0)) | (label != np.roll(label, 1, 1))
    edge = ndimage.gaussian_filter(edge.astype(float), 1.2)
    col *= (1 - 0.35 * np.clip(edge, 0, 1))[..., None]
    col = ndimage.gaussian_filter(col, (0.8, 0.8, 0))
    # paper grain
    col += 0.012 * smooth_noise(rs, (W, W), 0.7)[..., None]
    return downsample(col)


# --------------------------------------------------------------------------
# 4. pointillism.jpg - sunset seascape in dabs of pure colour
# --------------------------------------------------------------------------
def make_pointillism(seed=1886):
    rs = np.random.RandomState(seed)
    W = SIZE * SS
    yy, xx = (np.mgrid[0:W, 0:W] + 0.5) / W

    # --- the underlying scene (never shown directly) ------------------------
    hor = 0.56
    sun = (0.68, 0.40, 0.055)
    t = np.clip(yy / hor, 0, 1)[..., None]
    top, mid, low = hexcols("#34449a", "#8fb0dc", "#f2a27a")
    sky = np.where(t < 0.6, top + (mid - top) * (t / 0.6), mid + (low - mid) * ((t - 0.6) / 0.4))
    rsun = np.hypot(xx - sun[0], yy - sun[1])
    glow = np.exp(-((rsun / 0.12) ** 2))[..., None]
    sky = sky + (hexcols("#ffd27a")[0] - sky) * 0.7 * glow
    sky = np.where((rsun < sun[2])[..., None], hexcols("#fff3b8")[0], sky)
    cloud = (
        fbm(rs, (W, W), 40, octaves=3)
        + 2.4 * np.exp(-(((yy - 0.22) / 0.09) ** 2))
        + 1.6 * np.exp(-(((yy - 0.45) / 0.04) ** 2))
    )
    cloud = smoothstep(2.0, 2.8, cloud * (1 + 0.3 * (xx - 0.3)))[..., None]
    sky = sky + (hexcols("#e98a8a")[0] * (1 - t) + hexcols("#f6a25a")[0] * t - sky) * 0.75 * cloud
    depth = np.clip((yy - hor) / (1 - hor), 0, 1)[..., None]
    sea = hexcols("#2f6fb0")[0] * (1 - depth) + hexcols("#173f7a")[0] * depth
    waves = smooth_noise(rs, (W, W), (2, 14))[..., None]
    sea = sea * (1 + 0.12 * waves)
    colw = 0.03 + 0.12 * depth[..., 0]
    refl = np.exp(-(((xx - sun[0]) / colw) ** 2)) * (waves[..., 0] > -0.4)
    sea = sea + (hexcols("#f7c65a")[0] - sea) * (0.85 * refl)[..., None]
    scene = np.where((yy < hor)[..., None], sky, sea)
    # headland with trees on the left, beach at the bottom
    land_top = 0.50 + 0.35 * xx + 0.05 * np.sin(xx * 25) + 0.03 * smooth_noise(rs, (W, W), 30)
    land = (yy > land_top) & (xx < 0.42)
    trees = fbm(rs, (W, W), 10, octaves=2)
    land_c = np.where((trees > 0.3)[..., None], hexcols("#2e6a2c")[0], hexcols("#6fa03c")[0])
    scene = np.where(land[..., None], land_c, scene)
    beach = yy > 0.86 + 0.3 * xx + 0.015 * np.sin(xx * 30)
    scene = np.where(beach[..., None], hexcols("#e0b56a")[0], scene)
    # a sail boat
    bx, by = 0.3, 0.62
    sail = (yy < by) & (yy > by - 0.13) & (xx > bx) & (xx < bx + 0.07 * (by - yy) / 0.13)
    hull = (np.abs(yy - by - 0.01) < 0.012) & (np.abs(xx - bx - 0.02) < 0.055)
    scene = np.where(sail[..., None], hexcols("#f4efe2")[0], scene)
    scene = np.where(hull[..., None], hexcols("#7a2f28")[0], scene)
    scene = ndimage.gaussian_filter(scene, (3, 3, 0))

    # --- painting with dabs -------------------------------------------------
    pigments = hexcols(
        "#1d2460",
        "#2b3fb8",
        "#3f78d6",
        "#56b2e4",
        "#1f8a6a",
        "#4fbf5a",
        "#a8d04a",
        "#f7e04a",
        "#f5b82e",
        "#f08030",
        "#e0452e",
        "#e86aa0",
        "#8a4fc0",
        "#f8f4e8",
        "#c2e0f0",
        "#ffd9a0",
    )
    canvas = Image.new("RGB", (W, W), (236, 228, 208))
    draw = ImageDraw.Draw(canvas)
    k = np.arange(10) * 2 * np.pi / 10
    for n, rmin, rmax in ((18000, 6.0, 9.0), (16000, 4.0, 6.0)):
        px = rs.uniform(-6, W + 6, n)
        py = rs.uniform(-6, W + 6, n)
        c = scene[np.clip(py.astype(int), 0, W - 1), np.clip(px.astype(int), 0, W - 1)]
        c = c + rs.normal(0, 0.04, c.shape)
        d = ((c[:, None, :] - pigments[None]) ** 2).sum(-1)
        order = np.argsort(d, 1)
        comp = np.clip(c.mean(1, keepdims=True) * 2 - c + 0.15, 0, 1)
        dc = ((comp[:, None, :] - pigments[None]) ** 2).sum(-1).argmin(1)
        u = rs.rand(n)
        choice = np.where(u < 0.62, order[:, 0], np.where(u < 0.9, order[:, 1], np.where(u < 0.96, order[:, 2], dc)))
        col = np.clip(pigments[choice] * rs.uniform(0.88, 1.08, (n, 1)), 0, 1)
        col = (col * 255).round().astype(int)
        rx = rs.uniform(rmin, rmax, n)
        ry = rx * rs.uniform(0.6, 0.95, n)
        rot = rs.uniform(-0.5, 0.5, n) + np.where(py > hor * W, 0.0, 0.3)
        wob = 1 + 0.12 * rs.standard_normal((n, 10))
        ex = rx[:, None] * wob * np.cos(k)
        ey = ry[:, None] * wob * np.sin(k)
        X = px[:, None] + ex * np.cos(rot)[:, None] - ey * np.sin(rot)[:, None]
        Y = py[:, None] + ex * np.sin(rot)[:, None] + ey * np.cos(rot)[:, None]
        for i in range(n):
            draw.polygon(list(zip(X[i].tolist(), Y[i].tolist())), fill=tuple(col[i].tolist()))
    return downsample(canvas)


# --------------------------------------------------------------------------
# 5. cubist.jpg - faceted shards with dark outlines
# --------------------------------------------------------------------------
def make_cubist(seed=1910):
    rs = np.random.RandomState(seed)
    W = SIZE * SS
    yy, xx = (np.mgrid[0:W, 0:W] + 0.5) / W
    code = np.zeros((W, W), np.int64)
    outline = np.zeros((W, W))
    edges = []
    # straight cuts, mostly steep or diagonal, plus a few arcs
    for _ in range(16):
        ang = rs.choice([rs.uniform(-0.35, 0.35), rs.uniform(0.6, 1.0), rs.uniform(-1.0, -0.6), rs.uniform(1.3, 1.84)])
        ang += np.pi / 2
        cx, cy = rs.uniform(0.1, 0.9, 2)
        d = (xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)
        along = -(xx - cx) * np.sin(ang) + (yy - cy) * np.cos(ang)
        edges.append((d, along))
    for _ in range(4):
        cx, cy = rs.uniform(0.2, 0.8, 2)
        rad = rs.uniform(0.12, 0.3)
        r = np.hypot(xx - cx, yy - cy)
        edges.append((r - rad, np.arctan2(yy - cy, xx - cx) * rad))
    for i, (d, along) in enumerate(edges):
        code |= (d > 0).astype(np.int64) << i
        # line thickness varies along the cut; parts of it vanish (passage)
        ph = rs.uniform(0, 2 * np.pi, 3)
        thick = (
            0.0035
            * (1 + 0.8 * np.sin(along * 9 + ph[0]))
            * (np.sin(along * 4 + ph[1]) + 0.5 * np.sin(along * 11 + ph[2]) > -0.3)
        )
        outline = np.maximum(outline, smoothstep(thick + 0.0015, thick, np.abs(d)))
    _, region = np.unique(code, return_inverse=True)
    region = region.reshape(W, W)
    nreg = region.max() + 1

    pal = hexcols(
        "#b88a4a",
        "#6b4a2b",
        "#3a2a1c",
        "#8c8a80",
        "#5f6f7a",
        "#7a7a4a",
        "#d8c8a0",
        "#cfae6e",
        "#4a6e6c",
        "#a5523a",
        "#2e3a44",
        "#e6dcc0",
    )
    prob = np.array([12, 8, 4, 8, 8, 5, 8, 8, 3, 2, 4, 4], float)
    ci = rs.choice(len(pal), nreg, p=prob / prob.sum())
    base = pal[ci][region]
    # each facet is lit from one side: a linear gradient across it
    cnt = np.bincount(region.ravel(), minlength=nreg)
    mx = np.bincount(region.ravel(), xx.ravel(), nreg) / np.maximum(cnt, 1)
    my = np.bincount(region.ravel(), yy.ravel(), nreg) / np.maximum(cnt, 1)
    gang = rs.uniform(0, 2 * np.pi, nreg)
    gstr = rs.uniform(2.0, 5.0, nreg)
    g = ((xx - mx[region]) * np.cos(gang)[region] + (yy - my[region]) * np.sin(gang)[region]) * gstr[region]
    col = base * np.clip(1 + g, 0.45, 1.5)[..., None]
    # short parallel hatching strokes (Cezanne-like brushwork)
    noise = rs.standard_normal((W // 2, W // 2))
    h1 = ndimage.gaussian_filter(noise, (0.9, 5), mode="wrap")
    h1 = ndimage.zoom(ndimage.rotate(h1, 50, reshape=False, mode="wrap"), 2, order=1)
    h2 = ndimage.gaussian_filter(noise.T, (0.9, 5), mode="wrap")
    h2 = ndimage.zoom(ndimage.rotate(h2, -35, reshape=False, mode="wrap"), 2, order=1)
    pick = (rs.rand(nreg) < 0.5)[region]
    hatch = np.where(pick, h1, h2)
    hatch /= hatch.std()
    col *= (1 + 0.09 * hatch + 0.05 * fbm(rs, (W, W), 20, 3))[..., None]
    dark = hexcols("#1d1610")[0]
    col = col * (1 - outline[..., None]) + dark * outline[..., None]
    col += 0.015 * rs.standard_normal((W, W, 1))
    return downsample(col)


# --------------------------------------------------------------------------
MAKERS = {
    "swirls": (make_swirls, "swirls.jpg"),
    "mosaic": (make_mosaic, "mosaic.jpg"),
    "marble": (make_marble, "marble.jpg"),
    "pointillism": (make_pointillism, "pointillism.jpg"),
    "cubist": (make_cubist, "cubist.jpg"),
}


def main(argv):
    names = argv[1:] or list(MAKERS)
    t_all = time.time()
    for name in names:
        fn, fname = MAKERS[name]
        t0 = time.time()
        path = save(fn(), fname)
        print(f"{fname:<16} {os.path.getsize(path) / 1024.0:7.1f} KB  {time.time() - t0:5.1f} s")
    print(f"total {time.time() - t_all:.1f} s")


if __name__ == "__main__":
    main(sys.argv)
