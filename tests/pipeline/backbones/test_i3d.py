"""I3D checkpoints as piergiaj/pytorch-i3d writes them (generated from its model definition) load strictly and
give the source model's logits and 1024-d features; the taps, parts and clip shapes hold."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.pipeline.backbones import i3d_formats as formats
from twostream.pipeline.backbones import (
    FRAME_BACKBONES,
    BackboneError,
    CheckpointMismatchError,
    create_backbone,
    load_checkpoint,
)
from twostream.pipeline.backbones.normalization import I3D_NORMALIZATION
from twostream.data.sampling import SamplingError, evaluation_crops
from twostream.pipeline.batch import Execution
from twostream.pipeline.extract_features import FeatureExtractionConfig, extract_features
from twostream.pipeline.flow import dequantize_flow, quantize_flow
from twostream.pipeline.stores.feature_store import FeatureStore
from twostream.pipeline.stores.frame_store import FrameStore

KINETICS, CHARADES = 400, 157
# Float sums of a 60-layer network in another order (ours pads once per unit, as the source does, but the
# CPU's conv kernels may pick other algorithms per shape): the gap measured on an Intel Xeon was 0.0; 1e-4
# on logits of order 1 is the bar.
TOLERANCE = 1e-4


def _clip(in_channels: int, frames: int = 16, size: tuple[int, int] = (224, 224), seed: int = 0) -> torch.Tensor:
    return torch.randn(1, in_channels, frames, *size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name, in_channels, classes, legacy, tracked", [
    ("rgb_imagenet.pt", 3, KINETICS, True, False),     # the 2018 conversion: legacy container, no batch counts
    ("flow_charades.pt", 2, CHARADES, False, True),  # a fine-tune saved by train_i3d.py with a later PyTorch
])
def test_pytorch_i3d_checkpoints_load_strictly_and_give_the_source_s_logits_and_features(
        tmp_path: Path, name: str, in_channels: int, classes: int, legacy: bool, tracked: bool):
    weights = formats.pytorch_i3d_state_dict(in_channels, classes, seed=in_channels, batches_tracked=tracked)
    path = tmp_path / name
    torch.save(weights, path, _use_new_zipfile_serialization=not legacy)
    loaded = load_checkpoint(path)
    assert (loaded.backbone, loaded.num_classes, loaded.in_channels) == ("i3d", classes, in_channels)
    assert loaded.modality == ("rgb" if in_channels == 3 else "flow")
    assert loaded.normalization == I3D_NORMALIZATION
    net = loaded.build().eval()
    clip = _clip(in_channels)
    with torch.no_grad():
        ours = net.forward_taps(clip, ["global_pool", "logits"])
        logits, pooled = formats.pytorch_i3d_forward(weights, clip)
    assert logits.shape == (1, classes, 1)
    torch.testing.assert_close(ours["logits"], logits.mean(dim=2), rtol=0, atol=TOLERANCE)
    torch.testing.assert_close(ours["global_pool"], pooled.flatten(1), rtol=0, atol=TOLERANCE)


def test_longer_clips_give_the_mean_of_the_source_s_per_step_logits(tmp_path: Path):
    weights = formats.pytorch_i3d_state_dict(3, CHARADES, seed=5)
    torch.save(weights, tmp_path / "rgb.pt")
    net = load_checkpoint(tmp_path / "rgb.pt").build().eval()
    clip = _clip(3, frames=24, size=(200, 232), seed=1)  # odd sizes: the padding's uneven halves count
    with torch.no_grad():
        logits, _ = formats.pytorch_i3d_forward(weights, clip)
        ours = net(clip)
    # the source keeps 2 time steps and 1 x 2 positions of its 7 x 7 window, squeezing the height of 1
    assert logits.shape[2:] == (2, 2)
    torch.testing.assert_close(ours, logits.flatten(2).mean(dim=2), rtol=0, atol=TOLERANCE)


def test_a_checkpoint_missing_a_layer_is_refused_by_name(tmp_path: Path):
    weights = formats.pytorch_i3d_state_dict(3, KINETICS, seed=3)
    del weights["Mixed_4c.b1b.conv3d.weight"]
    torch.save(weights, tmp_path / "cut.pt")
    with pytest.raises(CheckpointMismatchError, match=r"Mixed_4c\.b1b\.conv3d\.weight"):
        load_checkpoint(tmp_path / "cut.pt", backbone="i3d")


def test_taps_shapes_and_the_layers_after_a_tap_match_the_full_network(tmp_path: Path):
    weights = formats.pytorch_i3d_state_dict(2, KINETICS, seed=4)
    torch.save(weights, tmp_path / "flow.pt")
    net = load_checkpoint(tmp_path / "flow.pt").build().eval()
    assert net.tap_shape("mixed_4f") == (832, 4, 14, 14)
    assert net.tap_shape("mixed_5c") == (1024, 2, 7, 7)
    assert net.feature_dim == 1024
    clip = _clip(2, seed=2)
    with torch.no_grad():
        taps = net.forward_taps(clip, net.taps)
        tail = net.layers_after(net.map_tap).eval()
        torch.testing.assert_close(tail(taps[net.map_tap]), taps["global_pool"], rtol=0, atol=TOLERANCE)
    assert {tap: tuple(value.shape[1:]) for tap, value in taps.items()} == {tap: net.tap_shape(tap) for tap in net.taps}


def test_a_frame_instead_of_a_clip_is_refused_and_training_offers_only_frame_networks():
    net = create_backbone("i3d", KINETICS).eval()
    with pytest.raises(BackboneError, match=r"reads clips \(N, C, T, H, W\)"):
        net(torch.zeros(1, 3, 224, 224))
    assert "i3d" not in FRAME_BACKBONES


def test_i3d_normalisation_maps_pixels_and_tsn_quantised_flow_onto_minus_one_to_one():
    frames = torch.tensor([0.0, 255.0]).view(1, 1, 2, 1, 1).expand(1, 3, 2, 1, 1)  # a clip: black, then white
    assert I3D_NORMALIZATION.apply(frames, "rgb").flatten().tolist() == [-1.0, 1.0] * 3
    flow = torch.from_numpy(quantize_flow(np.array([-25.0, -20.0, 0.0, 20.0], dtype=np.float32)))
    scaled = I3D_NORMALIZATION.apply(flow, "flow")  # I3D's input: flow clipped to +-20 px, divided by 20
    half_a_level = 1.0001 / 255  # 256 levels over [-1, 1]: rounding moves a value by at most half of 2 / 255
    torch.testing.assert_close(scaled, torch.tensor([-1.0, -1.0, 0.0, 1.0]), rtol=0, atol=half_a_level)


def test_dense_clip_features_are_the_source_model_s_on_the_clips_i3d_reads(tiny_dataset, reference_store, tmp_path):
    import cv2

    _, manifest = tiny_dataset
    one = manifest.subset([manifest.videos[1].video_id])
    video_id = one.videos[0].video_id
    weights = {"rgb": formats.pytorch_i3d_state_dict(3, KINETICS, seed=11),
               "flow": formats.pytorch_i3d_state_dict(2, KINETICS, seed=12)}
    for stream, state in weights.items():
        torch.save(state, tmp_path / f"{stream}_imagenet.pt")
    config = FeatureExtractionConfig(rgb_checkpoint=str(tmp_path / "rgb_imagenet.pt"),
                                     flow_checkpoint=str(tmp_path / "flow_imagenet.pt"), any_classes=True,
                                     sampling="dense", stride=4, crops=1, crop_size=40, input_size=224)
    summary = extract_features(one, reference_store, tmp_path / "i3d.zarr", config=config,
                               execution=Execution(no_cluster=True, retries=0))
    assert summary.ok
    store = FeatureStore.open(tmp_path / "i3d.zarr")
    assert store.config["sampling"]["clip_frames"] == 16 and store.config["sampling"]["stride"] == 4
    frames = FrameStore.open(reference_store)
    attrs = store.video(video_id).attrs
    assert attrs["frames"] == 10 and attrs["clip_starts"] == [0]  # 9 flow fields: one clip, its last field repeated
    # The clip as I3D's own preprocessing makes it: frames 0..8 then frame 8 again, the centre 40 x 40 crop resized
    # to 224; RGB scaled to [-1, 1]; flow dequantised, clipped to +-20 px and divided by 20.
    indices = [min(i, 8) for i in range(16)]
    crop = evaluation_crops(48, 64, 40, 1)[0]
    resize = lambda image: cv2.resize(np.ascontiguousarray(image[crop.top:crop.top + 40, crop.left:crop.left + 40]),
                                      (224, 224))
    rgb = np.stack([resize(frame) for frame in frames.rgb(video_id, indices)]).astype(np.float32) / 255 * 2 - 1
    fields = np.stack([resize(field) for field in frames.flow(video_id, 0, 9)[indices]])
    flow = np.clip(dequantize_flow(fields, float(frames.config["bound"])), -20, 20) / 20
    for stream, clip in (("rgb", rgb), ("flow", flow)):
        x = torch.from_numpy(np.ascontiguousarray(clip.transpose(3, 0, 1, 2)))[None]
        with torch.no_grad():
            logits, pooled = formats.pytorch_i3d_forward(weights[stream], x)
        np.testing.assert_allclose(store.read(video_id, f"{stream}/logits")[0, 0], logits[0, :, 0].numpy(),
                                   rtol=0, atol=2e-3)  # resizing the quantised flow before dequantising it
        np.testing.assert_allclose(store.read(video_id, f"{stream}/global_pool")[0, 0], pooled.flatten().numpy(),
                                   rtol=1e-2, atol=1e-2)  # stored as float16


def test_clip_networks_need_dense_sampling_in_both_streams(tiny_dataset, reference_store, checkpoints, tmp_path):
    torch.save(formats.pytorch_i3d_state_dict(3, KINETICS, seed=1), tmp_path / "rgb_imagenet.pt")
    torch.save(formats.pytorch_i3d_state_dict(2, KINETICS, seed=2), tmp_path / "flow_imagenet.pt")
    rgb, flow = str(tmp_path / "rgb_imagenet.pt"), str(tmp_path / "flow_imagenet.pt")
    _, manifest = tiny_dataset
    one = manifest.subset([manifest.videos[0].video_id])
    for config, refused in (
            (FeatureExtractionConfig(rgb, flow, any_classes=True), "--sampling dense --stride N"),
            (FeatureExtractionConfig(rgb, str(checkpoints["flow"]), any_classes=True, sampling="dense", stride=4),
             "one stream's network reads clips and the other's single frames")):
        with pytest.raises(SamplingError, match=refused):
            extract_features(one, reference_store, tmp_path / "refused.zarr", config=config,
                             execution=Execution(no_cluster=True, retries=0))
        assert not (tmp_path / "refused.zarr").exists()


def test_i3d_flow_needs_flow_quantised_with_tsn_s_bound(tiny_dataset, tmp_path):
    from twostream.pipeline.extract_frames import FrameExtractionConfig, extract_frames
    from twostream.pipeline.stores.video_store import StoreError

    _, manifest = tiny_dataset
    one = manifest.subset([manifest.videos[0].video_id])
    frames = tmp_path / "bound15.zarr"
    assert extract_frames(one, frames, config=FrameExtractionConfig(frame_size="native", flow="farneback", bound=15),
                          execution=Execution(no_cluster=True, retries=0)).ok
    for stream, channels in (("rgb", 3), ("flow", 2)):
        torch.save(formats.pytorch_i3d_state_dict(channels, KINETICS, seed=channels), tmp_path / f"{stream}.pt")
    config = FeatureExtractionConfig(rgb_checkpoint=str(tmp_path / "rgb.pt"), flow_checkpoint=str(tmp_path / "flow.pt"),
                                     any_classes=True, sampling="dense", stride=4, crops=1)
    with pytest.raises(StoreError, match="bound of 15 px; I3D's flow input is flow clipped to \\+-20 px"):
        extract_features(one, frames, tmp_path / "i3d.zarr", config=config, execution=Execution(no_cluster=True))
    assert not (tmp_path / "i3d.zarr").exists()


def test_each_network_names_its_channels_last_layout():
    for name in ("i3d", "tiny"):
        net = create_backbone(name, KINETICS)
        net.to(memory_format=net.channels_last)  # what extract-features does on CUDA: 3D weights need the 3D layout
        assert net.channels_last == (torch.channels_last_3d if name == "i3d" else torch.channels_last)
