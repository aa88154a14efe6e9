"""Run ultralytics without the network: no downloads, no auto-installs, no analytics.

Call :func:`setup_offline` before ``import ultralytics`` (``UltralyticsDetector`` does it): it
sets ``YOLO_OFFLINE=1`` (ultralytics then believes it is offline: no hub/analytics/asset
downloads), ``YOLO_AUTOINSTALL=0`` (no pip installs of missing requirements), a writable
``YOLO_CONFIG_DIR`` (kept if the user set one) and puts a TrueType font named ``Arial.ttf`` in
ultralytics' settings folder (a copy of matplotlib's bundled DejaVuSans.ttf), because
ultralytics' plotting code otherwise downloads Arial.ttf on first use.

Example::

    >>> from avsa_learn.detect.offline import setup_offline
    >>> config_dir = setup_offline()                                    # doctest: +SKIP
    >>> import ultralytics  # now safe without network                  # doctest: +SKIP
"""
import os
import shutil
import sys
import tempfile
from pathlib import Path

FONT_NAME = "Arial.ttf"


def _default_config_dir():
    """``$XDG_CACHE_HOME/avsa_learn/ultralytics`` (or ~/.cache/...); a temp folder if unwritable."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for candidate in (cache / "avsa_learn" / "ultralytics",
                      Path(tempfile.gettempdir()) / f"avsa_learn-ultralytics-{os.getuid()}"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    return Path(tempfile.mkdtemp(prefix="avsa_learn-ultralytics-"))


def _install_font(settings_dir):
    import matplotlib

    target = Path(settings_dir) / FONT_NAME
    if not target.exists():
        source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return target


def setup_offline():
    """Configure the environment so ultralytics never touches the network; return the config dir.

    Safe to call repeatedly. If ultralytics was already imported, its module-level ``ONLINE``
    flags are switched off as well and the font goes to the settings folder it already uses.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    if not os.environ.get("YOLO_CONFIG_DIR"):
        os.environ["YOLO_CONFIG_DIR"] = str(_default_config_dir())
    config_dir = Path(os.environ["YOLO_CONFIG_DIR"])
    settings_dir = config_dir / "Ultralytics"  # ultralytics' USER_CONFIG_DIR under YOLO_CONFIG_DIR
    utils = sys.modules.get("ultralytics.utils")
    if utils is not None:  # imported before us: patch the flags it computed at import time
        settings_dir = Path(utils.USER_CONFIG_DIR)
        utils.ONLINE = False
        utils.AUTOINSTALL = False
        for name in ("ultralytics.utils.events", "ultralytics.utils.checks",
                     "ultralytics.hub.utils"):
            module = sys.modules.get(name)
            if module is not None and hasattr(module, "ONLINE"):
                module.ONLINE = False
            if module is not None and hasattr(module, "AUTOINSTALL"):
                module.AUTOINSTALL = False
    _install_font(settings_dir)
    return config_dir
