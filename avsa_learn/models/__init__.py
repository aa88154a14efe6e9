"""Video/audio encoders, projection heads and A2V/V2A transformers (see heads.py for shapes)."""
from avsa_learn.models.audio import AudioCNN
from avsa_learn.models.heads import (AudioVisualModel, AVCModel, AVSAModel, CropTransformer,
                                     build_model)
from avsa_learn.models.video import R2Plus1D18, SmallR2Plus1D, build_video_encoder

__all__ = ["AudioCNN", "AudioVisualModel", "AVCModel", "AVSAModel", "CropTransformer",
           "R2Plus1D18", "SmallR2Plus1D", "build_model", "build_video_encoder"]
