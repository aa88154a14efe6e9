"""PNG plots: first-order beam patterns and acoustic maps (matplotlib, Agg, no pyplot state).

Angles follow docs/conventions.md: azimuth counter-clockwise from the front (+90° = left),
elevation up. Acoustic maps are drawn like an equirectangular video frame: azimuth +180° at the
left edge, 0° (front) in the middle, −180° at the right edge; zenith at the top.
"""
import numpy as np

__all__ = ["plot_patterns", "plot_acoustic_map"]


def _figure(size, dpi):
    """A Figure of exactly ``size`` = (width, height) pixels with an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def plot_patterns(path, patterns=None, size=(800, 600), dpi=100):
    """Polar plot of first-order beam patterns |a + (1 − a) cos γ| to the PNG ``path``.

    ``patterns``: names of :data:`spatialfoa.beamforming.PATTERNS` (default all). Front (γ = 0)
    points up and +90° (left) to the left; dashed lines mark rear lobes of inverted polarity.
    ``size`` is the image size in pixels. Returns ``path``.

    >>> plot_patterns("patterns.png", ["cardioid", "hypercardioid"])   # doctest: +SKIP
    """
    from .beamforming import PATTERNS, beam_pattern

    names = list(PATTERNS) if patterns is None else list(patterns)
    gamma = np.linspace(-np.pi, np.pi, 721)
    fig = _figure(size, dpi)
    ax = fig.add_subplot(projection="polar")
    ax.set_theta_zero_location("N")      # front up
    ax.set_theta_direction(1)            # counter-clockwise: +90° (left) on the left
    for i, name in enumerate(names):
        g = np.asarray(beam_pattern(gamma, name), dtype=float)
        color = f"C{i % 10}"
        ax.plot(gamma, np.where(g >= 0, g, np.nan), color=color,
                label=f"{name} (a = {PATTERNS[name]:.3f})")
        if np.any(g < 0):
            ax.plot(gamma, np.where(g < 0, -g, np.nan), color=color, linestyle="--")
    ax.set_rlim(0.0, 1.08)               # a little room: omni's circle sits at 1
    ax.set_rticks([0.25, 0.5, 0.75, 1.0])
    angles = np.arange(-135, 181, 45)
    ax.set_thetagrids(angles % 360, [f"{a:+d}°" if a not in (0, 90, -90, 180) else
                                     {0: "0° front", 90: "+90° left", -90: "−90° right",
                                      180: "180° back"}[a] for a in angles])
    fig.suptitle("First-order beam patterns |a + (1 − a) cos γ|\n(dashed: inverted polarity)",
                 fontsize="medium")
    ax.legend(loc="upper left", bbox_to_anchor=(1.05, 1.0), fontsize="small")
    fig.subplots_adjust(left=0.1, right=0.6, top=0.86, bottom=0.08)
    fig.savefig(path, dpi=dpi)
    return path


def plot_acoustic_map(path, x, sr, size=(900, 500), dpi=100, title=None, floor_db=-30.0,
                      frame=None, alpha=0.8, **map_options):
    """Acoustic intensity map of ambiX ``x`` (4, samples) at ``sr`` Hz to the PNG ``path``.

    Uses :func:`spatialfoa.acoustic_map.acoustic_map` (``map_options`` are passed on), drawn in
    dB relative to its peak down to ``floor_db``; the azimuth axis runs from +180° (left edge) through 0° (front, centre) to −180° (right edge),
    as in an equirectangular frame; the strongest direction is marked. ``frame``: a 2:1
    equirect uint8 RGB picture (H, W, 3) drawn under the map (which is then ``alpha``-blended
    over it, opacity ``alpha`` at the peak fading to none at ``floor_db``), so sound and
    picture can be compared (see
    :func:`spatialfoa.spherical.video_frame`). Returns ``path``.

    >>> plot_acoustic_map("map.png", x, 48000)   # doctest: +SKIP
    """
    from .localization import acoustic_map, dominant_directions

    m = acoustic_map(x, sr, **map_options)
    peak_density = m.map.max()
    level = 10 * np.log10(np.maximum(m.map, peak_density * 10 ** (floor_db / 10))
                          / peak_density) if peak_density > 0 else np.full(m.map.shape, floor_db)
    fig = _figure(size, dpi)
    ax = fig.add_subplot()
    if frame is not None:     # row 0 = zenith, column 0 = azimuth +180: the axes' own layout
        ax.imshow(np.asarray(frame), extent=(180, -180, -90, 90), origin="upper",
                  aspect="auto", interpolation="bilinear", zorder=0)
    # over a frame the map fades out toward the floor: opacity ``alpha`` at the peak, 0 at
    # ``floor_db``, so the picture shows where there is little sound
    fade = None if frame is None else alpha * np.clip(1.0 - level / floor_db, 0.0, 1.0)
    mesh = ax.pcolormesh(_edges(np.degrees(m.azimuth)), _edges(np.degrees(m.elevation)), level,
                         shading="flat", cmap="magma", vmin=floor_db, vmax=0.0, alpha=fade,
                         zorder=1)
    peak = np.degrees(dominant_directions(x, sr, k=1, **map_options)[0])
    ax.plot(peak[0], peak[1], marker="o", markersize=10, markerfacecolor="none",
            markeredgecolor="cyan", markeredgewidth=2, linestyle="none",
            label=f"peak ({peak[0]:+.0f}°, {peak[1]:+.0f}°)")
    ax.set_xlim(180, -180)
    ax.set_ylim(-90, 90)
    ax.set_xticks(np.arange(180, -181, -45))
    ax.set_yticks(np.arange(-90, 91, 45))
    ax.set_xlabel("azimuth (°): +180 back, +90 left, 0 front, −90 right")
    ax.set_ylabel("elevation (°)")
    ax.set_title(title or "Acoustic intensity map")
    ax.legend(loc="lower left", fontsize="small")
    fig.colorbar(mesh, ax=ax, label="intensity density (dB re peak)")
    fig.savefig(path, dpi=dpi)
    return path


def _edges(centres):
    """Cell edges around monotonic (increasing or decreasing) cell centres."""
    c = np.asarray(centres, dtype=float)
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
