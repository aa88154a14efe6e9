"""YOLO detection on 360° frames with ultralytics (YOLOv8 / YOLO11 ...), fully offline.

>>> det = UltralyticsDetector("yolo11n.pt")   # a local checkpoint    # doctest: +SKIP
>>> det.detect(frame)                # frame: uint8 (H, W, 3) RGB      # doctest: +SKIP
[Detection(label='person', confidence=0.81, azimuth=1.2, elevation=-0.1, box=(...)), ...]
"""
from pathlib import Path

import numpy as np

from avsa_learn.detect.offline import setup_offline
from avsa_learn.detect.tiles import SphericalDetector

_CONFIG_SUFFIXES = (".yaml", ".yml")


class UltralyticsDetector(SphericalDetector):
    """An ultralytics YOLO model applied to equirect frames (see :mod:`avsa_learn.detect.tiles`).

    ``weights``: a local model file (``.pt``, ``.onnx``, ...; it must exist: nothing is ever
    downloaded) or a model config ``.yaml`` (a local file or a name packaged with ultralytics,
    e.g. ``"yolo11n.yaml"``, which builds an untrained network). ``conf``: minimum confidence;
    ``iou``: NMS IoU threshold (also for merging across tiles / the seam); ``classes``: class
    ids or names to keep (None: all); ``imgsz``: the network's input size (ultralytics' meaning:
    the longer side; a 2:1 equirect frame padded for the seam becomes imgsz x imgsz/2.5, so
    equirect mode benefits from imgsz 1280 and more); ``device``: "cpu", "cuda:0", ...
    Keyword ``options`` are SphericalDetector's (tile grid, seam padding, batch size).
    Detections: :class:`Detection` with radians, docs/conventions.md.
    """

    def __init__(self, weights, conf=0.25, iou=0.45, classes=None, imgsz=640, device="cpu",
                 **options):
        super().__init__(conf=conf, iou=iou, **options)
        setup_offline()
        path = Path(weights).expanduser()
        if path.suffix.lower() not in _CONFIG_SUFFIXES and not path.is_file():
            raise FileNotFoundError(
                f"weights file {weights} not found: UltralyticsDetector never downloads models; "
                "pass a local checkpoint (e.g. yolo11n.pt copied from a connected machine) or a "
                "model .yaml")
        from ultralytics import YOLO

        self.model = YOLO(str(path) if path.exists() else str(weights))
        self.names = {int(k): str(v) for k, v in self.model.names.items()}
        self.classes = self._class_ids(classes)
        self.imgsz = imgsz
        self.device = device

    def _class_ids(self, classes):
        if classes is None:
            return None
        ids = {v: k for k, v in self.names.items()}
        out = []
        for c in ([classes] if isinstance(classes, (str, int)) else classes):
            if isinstance(c, str) and not c.isdigit():
                if c not in ids:
                    raise ValueError(f"unknown class {c!r}; the model's classes are "
                                     f"{sorted(ids)}")
                out.append(ids[c])
            else:
                out.append(int(c))
        return out

    def _predict(self, images):
        bgr = [np.ascontiguousarray(im[..., ::-1]) for im in images]  # ultralytics: numpy = BGR
        results = self.model.predict(bgr, conf=self.conf, iou=self.iou, classes=self.classes,
                                     imgsz=self.imgsz, device=self.device, verbose=False)
        out = []
        for r in results:
            boxes = r.boxes.xyxy.cpu().numpy().astype(np.float64)
            scores = r.boxes.conf.cpu().numpy().astype(np.float64)
            labels = [self.names[int(c)] for c in r.boxes.cls.cpu().numpy()]
            out.append((boxes, scores, labels))
        return out
