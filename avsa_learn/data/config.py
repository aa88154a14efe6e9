"""The data side of the training configuration: one typed object, saved with every checkpoint."""
from dataclasses import dataclass

AUDIO_FORMATS = ("ambi", "mono", "stereo")
FEATURES = ("logmel", "foa-iv", "icf")
CROP_STRATEGIES = ("random", "object", "quadrants", "audio")


@dataclass
class DataConfig:
    """How clips become (video crops, per-crop audio features).

    Angles in degrees where the name says ``_deg``. Paper defaults: 8 frames at 16 fps (0.5 s),
    1 s of audio at 24 kHz, 112x112 crops, 128 mel bands, 100 frames per second.
    """

    index: str = ""                  # path to a clip index (JSONL) made by avsa-index / avsa-synth
    detections: str = ""             # detection cache (JSONL) from avsa-detect, or "ground-truth"
    audio_format: str = "ambi"       # ambi | mono | stereo
    feature: str = "logmel"          # logmel | foa-iv (ambi only) | icf (stereo only)
    crop_strategy: str = "random"    # random | object | quadrants | audio
    n_frames: int = 8
    fps: float = 16.0
    crop_size: int = 112
    fov_deg: tuple = (25.0, 76.0)    # horizontal field of view range of a crop
    max_crop_elevation_deg: float = 30.0
    audio_seconds: float = 1.0
    sample_rate: int = 24000
    n_mels: int = 128
    flip: bool = True                # horizontal flip of crops, mirrored in the audio (Y -> -Y)
    color_jitter: bool = True
    gain_jitter: float = 0.1         # audio gain x U(1 - g, 1 + g) in training
    cache_frames: bool = False       # keep decoded clip frames in memory (small synthetic data)
    video_start_step: int = 1        # video windows start on file frames k * step (at fps); the
    # paper preset's 8 = avsa-prepare's keyframes (GOP 8 at 16 fps, no B-frames): a window then
    # decodes its own 8 frames only (docs/datasets.md)

    def __post_init__(self):
        if self.audio_format not in AUDIO_FORMATS:
            raise ValueError(f"audio_format must be one of {AUDIO_FORMATS}, got {self.audio_format!r}")
        if self.feature not in FEATURES:
            raise ValueError(f"feature must be one of {FEATURES}, got {self.feature!r}")
        if self.crop_strategy not in CROP_STRATEGIES:
            raise ValueError(f"crop_strategy must be one of {CROP_STRATEGIES}, "
                             f"got {self.crop_strategy!r}")
        if self.feature == "foa-iv" and self.audio_format != "ambi":
            raise ValueError("feature 'foa-iv' needs audio_format 'ambi'")
        if self.feature == "icf" and self.audio_format != "stereo":
            raise ValueError("feature 'icf' needs audio_format 'stereo'")
        if isinstance(self.video_start_step, bool) or int(self.video_start_step) != \
                self.video_start_step or self.video_start_step < 1:
            raise ValueError(f"video_start_step must be a positive integer, got "
                             f"{self.video_start_step!r}")
        self.fov_deg = tuple(self.fov_deg)

    @property
    def audio_channels(self):
        """Channels of the audio feature: 4 ambi log-mel, 7 FOA-IV, 2 stereo, 5 ICF, 1 mono."""
        if self.feature == "foa-iv":
            return 7
        if self.feature == "icf":
            return 5
        return {"ambi": 4, "stereo": 2, "mono": 1}[self.audio_format]

    @property
    def audio_frames(self):
        """Feature frames per sample: 100 per second at the paper's 10 ms hop."""
        return int(round(self.audio_seconds * 100))
