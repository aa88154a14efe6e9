"""`spatialfoa plot-map` of a video: the map is drawn over the video's 360° frame of the
analysed time, and the map's peak marker sits over the source drawn in the picture."""
import numpy as np
import pytest
from scipy import ndimage

import spatialfoa
from avsa_learn.data.video import write_video
from spatialfoa.cli import main
from spatialfoa.spherical import video_frame, write_spherical
from test_detect import paint_disc

SR = 24000
FPS = 4
AZ, EL = np.deg2rad(60.0), np.deg2rad(20.0)


def read_png(path):
    """The PNG's RGB left of the colour bar (which holds magma's reds), ints."""
    from matplotlib.image import imread
    img = (imread(path)[..., :3] * 255).round().astype(int)
    return img[:, :int(0.75 * img.shape[1])]


def masks(img):
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    green = (g > 150) & (g - r > 60) & (g - b > 60)
    red = (r > 150) & (r - g > 80) & (r - b > 80)
    cyan = (g > 180) & (b > 180) & (r < 90)
    return green, red, cyan


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """3 s: a red disc at (-100°, -30°) in seconds 0-1 and 2-3, a green disc at the sound's
    direction (60°, 20°) in second 1-2; noise from (60°, 20°) throughout. Top-bottom stereo
    with V2 metadata and the other eye black, so the right eye must be picked too."""
    h, w = 128, 256
    red = paint_disc(np.full((h, w, 3), 40, np.uint8), np.deg2rad(-100), np.deg2rad(-30),
                     np.deg2rad(14), (255, 0, 0))
    green = paint_disc(np.full((h, w, 3), 40, np.uint8), AZ, EL, np.deg2rad(14), (0, 255, 0))
    eyes = [red] * FPS + [green] * FPS + [red] * FPS
    frames = np.stack([np.concatenate([e, np.zeros_like(e)]) for e in eyes])
    rng = np.random.default_rng(0)
    x = spatialfoa.encode(0.1 * rng.standard_normal(3 * SR), AZ, EL).astype(np.float32)
    path = tmp_path_factory.mktemp("pm") / "clip.mp4"
    write_video(path, frames, FPS, x, SR, crf=10)
    write_spherical(path, path, "equirect", "top-bottom")
    return path


def test_video_frame_is_the_one_at_that_time_and_the_top_eye(clip):
    for t, want in ((0.5, "red"), (1.4, "green"), (2.6, "red")):
        f = video_frame(clip, t, width=256)
        assert f.shape == (128, 256, 3)
        green, red, _ = masks(f.astype(int))
        assert (green.sum() > 100, red.sum() > 100) == (want == "green", want == "red"), t


def test_audio_file_has_no_frame(tmp_path):
    spatialfoa.write_audio(tmp_path / "a.wav", np.zeros((4, SR), np.float32), SR)
    assert video_frame(tmp_path / "a.wav", 0.5) is None


def test_plot_map_draws_the_frame_of_the_analysed_time_under_the_peak(clip, tmp_path):
    out = tmp_path / "map.png"
    assert main(["plot-map", str(clip), str(out), "--offset", "1.0",
                 "--max-seconds", "1.0"]) == 0          # middle at 1.5 s: the green frame
    img = read_png(out)
    green, red, cyan = masks(img)
    assert green.sum() > 200 and red.sum() < 20
    gy, gx = ndimage.center_of_mass(green)
    lab, n = ndimage.label(cyan)
    rings = ndimage.center_of_mass(cyan, lab, range(1, n + 1))
    # the peak marker (one cyan ring; the other is the legend's) sits on the drawn disc
    nearest = min(np.hypot(y - gy, x - gx) for y, x in rings)
    assert nearest < 4.0, (gy, gx, rings)
    # the first second shows the red frame instead
    assert main(["plot-map", str(clip), str(out), "--max-seconds", "1.0"]) == 0
    green, red, _ = masks(read_png(out))
    assert red.sum() > 200 and green.sum() < 20
    # --no-video: the map alone
    assert main(["plot-map", str(clip), str(out), "--max-seconds", "1.0", "--no-video"]) == 0
    img = read_png(out)
    green, _, _ = masks(img)
    grey = np.all(np.abs(img - 40) < 12, axis=-1)      # the frame's background, not the map's
    assert green.sum() < 20 and grey.sum() < 2000
    assert main(["plot-map", str(clip), str(out), "--max-seconds", "1.0"]) == 0
    assert np.all(np.abs(read_png(out) - 40) < 12, axis=-1).sum() > 50000
