"""The detection record shared by every detector backend, the cache and the crop strategies."""
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Detection:
    """One object found in an equirectangular frame.

    ``azimuth``/``elevation`` (radians) are the box centre in the spatialfoa convention
    (azimuth counter-clockwise from the front, +pi/2 = left; elevation up; see
    docs/conventions.md). ``box`` is (x0, y0, x1, y1) in frame pixels; x0 > x1 means the box
    wraps around the ±180° seam.
    """

    label: str
    confidence: float
    azimuth: float
    elevation: float
    box: tuple

    def to_dict(self):
        d = asdict(self)
        d["box"] = [float(v) for v in self.box]
        return d

    @classmethod
    def from_dict(cls, d):
        return cls(str(d["label"]), float(d["confidence"]), float(d["azimuth"]),
                   float(d["elevation"]), tuple(float(v) for v in d["box"]))
