"""Encoders, heads and transformers: shapes, parameter counts from closed forms, structure."""
import pytest
import torch
from torch import nn

from avsa_learn.config import ModelConfig, TrainConfig, resolve_config
from avsa_learn.data.config import DataConfig
from avsa_learn.models import (AudioCNN, AudioVisualModel, CropTransformer, R2Plus1D18,
                               SmallR2Plus1D, build_model)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def r2plus1d_18_params():
    """R(2+1)D-18 as torchvision builds it (Tran et al. 2018 mid-channel rule
    M = floor(27 N_in N_out / (9 N_in + 3 N_out))), without the fc, from the layer list."""
    bn = lambda c: 2 * c  # noqa: E731
    total = 3 * 45 * 49 + bn(45) + 45 * 64 * 3 + bn(64)  # stem (1,7,7) then (3,1,1)
    inplanes = 64
    for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            cin = inplanes
            mid = (cin * planes * 27) // (cin * 9 + 3 * planes)
            total += cin * mid * 9 + bn(mid) + mid * planes * 3 + bn(planes)       # conv1
            total += planes * mid * 9 + bn(mid) + mid * planes * 3 + bn(planes)    # conv2
            if block == 0 and (stride != 1 or cin != planes):
                total += cin * planes + bn(planes)                                 # downsample
            inplanes = planes
    return total


def audio_cnn_params(cin, w):
    """9 bias-free convs + BN of the facts file: k7 then k3 layers."""
    convs = [(cin, w, 7), (w, w, 3), (w, w, 3), (w, 2 * w, 3), (2 * w, 2 * w, 3),
             (2 * w, 4 * w, 3), (4 * w, 4 * w, 3), (4 * w, 8 * w, 3), (8 * w, 8 * w, 3)]
    return sum(a * b * k * k + 2 * b for a, b, k in convs)


def test_r2plus1d_18_paper_encoder():
    enc = R2Plus1D18()
    assert n_params(enc) == r2plus1d_18_params()
    assert abs(n_params(enc) - 31.3e6) < 0.05e6  # torchvision's ~31.5M minus the 400-way fc
    assert not any(isinstance(m, nn.Linear) for m in enc.modules())  # fc removed
    enc.eval()
    with torch.no_grad():
        out = enc(torch.randn(1, 3, 4, 64, 64))
    assert out.shape == (1, 512)


def test_audio_cnn_feature_maps_match_reference_sizes():
    cnn = AudioCNN(in_channels=4, width=64).eval()
    assert n_params(cnn) == audio_cnn_params(4, 64)
    assert sum(isinstance(m, nn.Conv2d) for m in cnn.modules()) == 9
    assert all(m.bias is None for m in cnn.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        x = torch.randn(1, 4, 100, 128)
        maps = cnn.feature_maps(x)
        out = cnn(x)
    assert [tuple(m.shape[1:]) for m in maps] == [(64, 50, 64), (128, 25, 32), (256, 13, 16),
                                                 (512, 13, 16)]
    assert out.shape == (1, 512)
    assert torch.equal(out, maps[-1].amax(dim=(2, 3)))  # global max pool


def test_audio_channels_follow_data_config():
    for feature, fmt, channels in (("logmel", "ambi", 4), ("foa-iv", "ambi", 7),
                                   ("icf", "stereo", 5), ("logmel", "mono", 1)):
        cfg = TrainConfig(data=DataConfig(audio_format=fmt, feature=feature),
                          model=ModelConfig(video="small", video_widths=(8, 16),
                                            video_blocks=(1, 1), audio_width=2))
        model = build_model(cfg)
        assert model.encoders.audio_encoder.stages[0][0].in_channels == channels


def test_small_video_encoder_is_configurable():
    enc = SmallR2Plus1D(widths=(8, 16, 32), blocks=(1, 2, 1)).eval()
    with torch.no_grad():
        out = enc(torch.randn(2, 3, 4, 48, 48))
    assert out.shape == (2, 32)
    blocks = [m for m in enc.modules() if type(m).__name__ == "BasicBlock"]
    assert len(blocks) == 4
    # (2+1)D factorisation: every 3-D conv is purely spatial, purely temporal or 1x1x1
    for m in enc.modules():
        if isinstance(m, nn.Conv3d):
            kt, kh, kw = m.kernel_size
            assert kt == 1 or (kh, kw) == (1, 1)


def test_paper_model_heads_and_transformers():
    model = build_model(resolve_config("paper"))
    assert model.feature_dim == 512
    for head in (model.avc.video, model.avc.audio, model.avsa.video_target,
                 model.avsa.audio_target, model.avsa.video_pred, model.avsa.audio_pred):
        assert (head.in_features, head.out_features) == (512, 128)
    for tr in (model.avsa.a2v, model.avsa.v2a):
        layers = tr.encoder.layers
        assert len(layers) == 2
        for layer in layers:
            assert layer.self_attn.num_heads == 1 and layer.self_attn.embed_dim == 512
            assert layer.norm_first is False  # post-LN
            assert (layer.linear1.in_features, layer.linear1.out_features) == (512, 2048)
            assert layer.dropout.p == pytest.approx(0.1)


def test_transformer_is_permutation_equivariant_over_crops():
    torch.manual_seed(0)
    tr = CropTransformer(16, layers=2, heads=1, ff=32).eval()
    x = torch.randn(3, 4, 16)
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        y = tr(x)
        y_perm = tr(x[:, perm])
    torch.testing.assert_close(y_perm, y[:, perm], rtol=1e-5, atol=1e-5)
    # but crops do interact: changing one crop changes the others' outputs
    x2 = x.clone()
    x2[:, 0] += 1
    with torch.no_grad():
        assert not torch.allclose(tr(x2)[:, 1:], y[:, 1:])


@pytest.fixture(scope="module")
def tiny_model():
    cfg = resolve_config("cpu", overrides=["model.video_widths=[8, 16]",
                                           "model.video_blocks=[1, 1]", "model.audio_width=2",
                                           "model.proj_dim=8", "model.transformer_ff=16"])
    torch.manual_seed(0)
    return cfg, build_model(cfg)


def test_stage_shapes(tiny_model):
    cfg, model = tiny_model
    d = cfg.data
    video = torch.randn(3, 4, 3, d.n_frames, 32, 32)
    audio = torch.randn(3, 4, d.audio_channels, d.audio_frames, d.n_mels)
    v, a = model.stage("avc")(video[:, 0], audio[:, 0])
    assert v.shape == a.shape == (3, 8)
    out = model.stage("avsa")(video, audio)
    assert set(out) == {"video_target", "audio_target", "video_pred", "audio_pred"}
    assert all(t.shape == (3, 4, 8) for t in out.values())
    fv, fa = model(video, audio)
    assert fv.shape == fa.shape == (3, 4, 16)


def test_stage_views_share_backbones_and_keep_heads_apart(tiny_model):
    _, model = tiny_model
    avc, avsa = model.stage("avc"), model.stage("avsa")
    ids = lambda m: {id(p) for p in m.parameters()}  # noqa: E731
    backbone = ids(model.encoders)
    assert backbone <= ids(avc) and backbone <= ids(avsa)
    assert ids(avc) - backbone == ids(model.avc)
    assert ids(avsa) - backbone == ids(model.avsa)
    assert ids(avc) | ids(avsa) == ids(model)
    # the AVSA heads are new (not copies of the AVC heads)
    assert not torch.equal(model.avc.video.weight, model.avsa.video_target.weight)
    with pytest.raises(ValueError, match="unknown stage"):
        model.stage("nope")


def test_mismatched_feature_sizes_are_rejected():
    with pytest.raises(ValueError, match="must equal"):
        resolve_config("cpu", overrides=["model.audio_width=4"])
    with pytest.raises(ValueError, match="audio feature size"):
        AudioVisualModel(SmallR2Plus1D((8, 16), (1, 1)), AudioCNN(4, 4), ModelConfig())
