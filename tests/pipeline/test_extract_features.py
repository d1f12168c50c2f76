"""extract-features end to end on a small real frames store with tiny checkpoints."""
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from twostream.data.sampling import FLOW_STACK, cut, evaluation_crops, evaluation_snippets, rgb_index
from twostream.pipeline.backbones import build_backbone, save_checkpoint
from twostream.pipeline.batch import Execution
from twostream.pipeline.extract_features import extract_features
from twostream.pipeline.flow import dequantize_flow
from twostream.pipeline.stores.feature_store import FeatureStore
from twostream.pipeline.stores.frame_store import FrameStore
from twostream.pipeline.stores.video_store import StoreError

IN_PROCESS = Execution(no_cluster=True, retries=0)


def test_every_tap_has_the_snippet_and_crop_layout(tiny_dataset, feature_store):
    _, manifest = tiny_dataset
    store = FeatureStore.open(feature_store)
    video_id = manifest.videos[0].video_id
    assert store.video_ids() == sorted(v.video_id for v in manifest)
    assert store.taps("rgb") == ["conv3", "conv4", "global_pool", "logits"]
    assert store.read(video_id, "rgb/conv3").shape == (3, 10, 32, 7, 7)
    assert store.read(video_id, "flow/global_pool").shape == (3, 10, 32)
    assert store.read(video_id, "rgb/logits").shape == (3, 10, len(manifest.classes))
    assert store.array(video_id, "rgb/conv3").dtype == np.float16
    assert store.array(video_id, "flow/logits").dtype == np.float32
    assert store.read(video_id, "flowmag").shape == (3, 10, 7, 7)
    assert store.label(video_id) == manifest.videos[0].label
    assert store.read(video_id, "rgb/conv3", snippets=[2], crops=[4]).shape == (1, 1, 32, 7, 7)
    sampling = store.config["sampling"]
    assert sampling["snippets"] == 3 and sampling["crops"] == 10 and sampling["input_size"] == 56


def test_stored_logits_equal_the_network_on_the_same_view(tiny_dataset, reference_store, feature_store, checkpoints):
    _, manifest = tiny_dataset
    frames, store = FrameStore.open(reference_store), FeatureStore.open(feature_store)
    video_id = manifest.videos[1].video_id
    starts = evaluation_snippets(frames.num_frames(video_id), 3)
    crop = evaluation_crops(48, 64, 40, 10)[7]  # a mirrored corner
    frame = frames.rgb(video_id, [int(rgb_index(starts[1]))])[0]
    import cv2
    view = cv2.resize(np.ascontiguousarray(cut(frame, crop)), (56, 56), interpolation=cv2.INTER_LINEAR)
    from twostream.pipeline.backbones import load_checkpoint
    net = load_checkpoint(checkpoints["rgb"]).build()
    x = net.normalization.apply(torch.from_numpy(view.transpose(2, 0, 1)[None].copy()), "rgb")
    with torch.no_grad():
        expected = net(x)[0].numpy()
    # a batch of views against this one view: 7.5e-9 apart on an AMD EPYC, far under the allowance
    np.testing.assert_allclose(store.read(video_id, "rgb/logits")[1, 7], expected, rtol=1e-5, atol=1e-5)
    stack = frames.flow(video_id, int(starts[1]), FLOW_STACK)
    field = dequantize_flow(stack[FLOW_STACK // 2], 20.0)
    magnitude = np.hypot(field[..., 0], field[..., 1])
    piece = np.ascontiguousarray(cut(magnitude[..., None], crop))[..., 0].astype(np.float32)
    expected_mag = cv2.resize(piece, (7, 7), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(store.read(video_id, "flowmag")[1, 7], expected_mag, rtol=2e-3, atol=2e-3)


def test_mismatched_checkpoints_and_configurations_are_refused(tiny_dataset, reference_store, feature_store,
                                                             checkpoints, tmp_path, features_config):
    _, manifest = tiny_dataset
    with pytest.raises(StoreError, match="another configuration"):
        extract_features(manifest, reference_store, feature_store, config=features_config(snippets=4),
                         execution=IN_PROCESS)
    wrong = tmp_path / "wrong.pt"
    save_checkpoint(wrong, build_backbone("tiny", "rgb", len(manifest.classes) + 1))
    with pytest.raises(StoreError, match="classes but the manifest has"):
        extract_features(manifest, reference_store, tmp_path / "f.zarr",
                         config=features_config(rgb_checkpoint=str(wrong)),
                         execution=IN_PROCESS)
    foreign = tmp_path / "foreign.pt"
    save_checkpoint(foreign, build_backbone("tiny", "flow", len(manifest.classes) + 1))
    summary = extract_features(manifest.subset([manifest.videos[0].video_id]), reference_store, tmp_path / "h.zarr",
                               config=features_config(rgb_checkpoint=str(wrong), flow_checkpoint=str(foreign),
                                               any_classes=True), execution=IN_PROCESS)
    assert summary.ok
    from twostream.fusion.errors import FeatureSourceError
    from twostream.fusion.sources import StoredFeatureSource
    with pytest.raises(FeatureSourceError, match="scores 5 classes but the dataset has 4"):
        StoredFeatureSource(tmp_path / "h.zarr")
    with pytest.raises(StoreError, match="is a rgb network, but it was given for the flow stream"):
        extract_features(manifest, reference_store, tmp_path / "g.zarr",
                         config=features_config(flow_checkpoint=str(checkpoints["rgb"])), execution=IN_PROCESS)
    with pytest.raises(StoreError, match="is a frames store, not a features store"):
        FeatureStore.open(reference_store)


def test_a_crop_larger_than_the_frames_is_recorded_per_video(tiny_dataset, reference_store, checkpoints, tmp_path, features_config):
    _, manifest = tiny_dataset
    summary = extract_features(manifest.subset([manifest.videos[0].video_id]), reference_store, tmp_path / "f.zarr",
                               config=features_config(crop_size=80), execution=IN_PROCESS)
    assert "does not fit 64x48 frames" in summary.failed[manifest.videos[0].video_id]


def test_sigkill_then_rerun_gives_the_same_features(tiny_dataset, reference_store, feature_store, checkpoints,
                                                    tmp_path):
    _, manifest = tiny_dataset
    manifest_path = manifest.save(tmp_path / "manifest.json")
    store = tmp_path / "features.zarr"
    command = [sys.executable, "-m", "twostream.cli", "extract-features", str(manifest_path), "--frames",
               str(reference_store), "--features", str(store), "--rgb-checkpoint", str(checkpoints["rgb"]),
               "--flow-checkpoint", str(checkpoints["flow"]), "--snippets", "3", "--crops", "10", "--crop-size", "40",
               "--input-size", "56", "--batch-size", "16", "--no-cluster"]
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import time
    deadline = time.monotonic() + 120
    while not ((store / "videos").is_dir() and sum(p.is_dir() for p in (store / "videos").iterdir()) >= 3):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert len(FeatureStore.open(store).video_ids()) < len(manifest)
    assert subprocess.run(command, capture_output=True).returncode == 0
    first, second = FeatureStore.open(feature_store), FeatureStore.open(store)
    assert first.video_ids() == second.video_ids()
    for video_id in first.video_ids():
        for name in ("rgb/conv3", "flow/logits", "flowmag"):
            assert np.array_equal(first.read(video_id, name), second.read(video_id, name))


def test_unset_sizes_come_from_what_the_checkpoints_record(tiny_dataset, reference_store, tmp_path, features_config):
    _, manifest = tiny_dataset
    torch.manual_seed(0)
    recorded = {}
    for modality in ("rgb", "flow"):
        recorded[modality] = tmp_path / f"{modality}-at-32.pt"
        save_checkpoint(recorded[modality], build_backbone("tiny", modality, len(manifest.classes)),
                        class_names=manifest.classes, config={"input_size": 32})
    one = manifest.subset([manifest.videos[0].video_id])
    config = features_config(rgb_checkpoint=str(recorded["rgb"]), flow_checkpoint=str(recorded["flow"]),
                             crop_size=None, input_size=None)
    summary = extract_features(one, reference_store, tmp_path / "recorded.zarr", config=config, execution=IN_PROCESS)
    assert summary.ok
    sampling = FeatureStore.open(tmp_path / "recorded.zarr").config["sampling"]
    assert sampling["input_size"] == 32 and sampling["crop_size"] == 42  # 224/256 of the 48-pixel short side
    given = features_config(rgb_checkpoint=str(recorded["rgb"]), flow_checkpoint=str(recorded["flow"]),
                            crop_size=40, input_size=None)
    extract_features(one, reference_store, tmp_path / "given.zarr", config=given, execution=IN_PROCESS)
    sampling = FeatureStore.open(tmp_path / "given.zarr").config["sampling"]
    assert sampling["crop_size"] == 40 and sampling["input_size"] == 32  # crops of 40 px, fed at the recorded 32
    fed = features_config(rgb_checkpoint=str(recorded["rgb"]), flow_checkpoint=str(recorded["flow"]),
                          crop_size=None, input_size=40)
    extract_features(one, reference_store, tmp_path / "fed.zarr", config=fed, execution=IN_PROCESS)
    sampling = FeatureStore.open(tmp_path / "fed.zarr").config["sampling"]
    assert sampling["crop_size"] == 42 and sampling["input_size"] == 40  # the trainer's share, fed as asked


def test_checkpoints_that_record_different_sizes_need_the_flag(tiny_dataset, reference_store, tmp_path,
                                                               features_config):
    _, manifest = tiny_dataset
    paths = {}
    for modality, size in (("rgb", 32), ("flow", 48)):
        paths[modality] = tmp_path / f"{modality}.pt"
        save_checkpoint(paths[modality], build_backbone("tiny", modality, len(manifest.classes)),
                        config={"input_size": size})
    config = features_config(rgb_checkpoint=str(paths["rgb"]), flow_checkpoint=str(paths["flow"]), input_size=None)
    with pytest.raises(StoreError, match="different input sizes .32 and 48.; pass --input-size"):
        extract_features(manifest, reference_store, tmp_path / "f.zarr", config=config, execution=IN_PROCESS)
    given = features_config(rgb_checkpoint=str(paths["rgb"]), flow_checkpoint=str(paths["flow"]), input_size=40)
    one = manifest.subset([manifest.videos[0].video_id])
    assert extract_features(one, reference_store, tmp_path / "given.zarr", config=given, execution=IN_PROCESS).ok


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
def test_a_missing_device_is_a_clear_error_before_any_work(tiny_dataset, reference_store, tmp_path, checkpoints):
    _, manifest = tiny_dataset
    manifest_path = manifest.save(tmp_path / "manifest.json")
    result = subprocess.run([sys.executable, "-m", "twostream.cli", "extract-features", str(manifest_path),
                             "--frames", str(reference_store), "--features", str(tmp_path / "f.zarr"),
                             "--rgb-checkpoint", str(checkpoints["rgb"]), "--flow-checkpoint",
                             str(checkpoints["flow"]), "--device", "cuda", "--no-cluster"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "torch sees no CUDA device; use --device cpu" in result.stderr
    assert "internal error" not in result.stderr and not (tmp_path / "f.zarr").exists()


def test_out_of_fold_taps_are_the_fold_nets_on_the_same_views(tiny_dataset, reference_store, oof_feature_store,
                                                              fold_checkpoints):
    import cv2

    from twostream.data.folds import fold_checkpoint, read_folds
    from twostream.pipeline.backbones import load_checkpoint

    _, manifest = tiny_dataset
    folds = read_folds(fold_checkpoints)
    frames, store = FrameStore.open(reference_store), FeatureStore.open(oof_feature_store)
    assert store.folds["assignment"] == folds.assignment and store.folds["k"] == 2
    for fold in (1, 2):
        recorded = store.attrs["fold_checkpoints"][str(fold)]["flow"]
        assert recorded["path"] == str(fold_checkpoint(fold_checkpoints, fold, "flow").resolve())
        assert recorded["sha256"] == load_checkpoint(recorded["path"]).sha256
        video_id = folds.members(fold)[0]
        starts = evaluation_snippets(frames.num_frames(video_id), 3)
        crop = evaluation_crops(48, 64, 40, 10)[7]
        frame = frames.rgb(video_id, [int(rgb_index(starts[1]))])[0]
        view = cv2.resize(np.ascontiguousarray(cut(frame, crop)), (56, 56), interpolation=cv2.INTER_LINEAR)
        net = load_checkpoint(fold_checkpoint(fold_checkpoints, fold, "rgb")).build()
        x = net.normalization.apply(torch.from_numpy(view.transpose(2, 0, 1)[None].copy()), "rgb")
        with torch.no_grad():
            expected = net(x)[0].numpy()
        np.testing.assert_allclose(store.read(video_id, "oof/rgb/logits")[1, 7], expected, rtol=1e-5, atol=1e-5)
        assert not np.allclose(store.read(video_id, "rgb/logits")[1, 7], expected, atol=1e-3)
        for name in ("rgb/conv3", "flow/global_pool", "flow/logits"):
            full, oof = store.array(video_id, name), store.array(video_id, f"oof/{name}")
            assert (oof.shape, oof.dtype, oof.chunks) == (full.shape, full.dtype, full.chunks)
    tested = manifest.select(1, "test")[0].video_id
    assert tested not in folds.assignment and "oof" not in store.video(tested)


def test_a_store_refuses_extension_with_or_without_fold_checkpoints(tiny_dataset, reference_store, feature_store,
                                                                   oof_feature_store, fold_checkpoints,
                                                                   features_config, tmp_path):
    import shutil

    from twostream.data.folds import fold_checkpoint

    _, manifest = tiny_dataset
    with pytest.raises(StoreError, match="extracted without --fold-checkpoints"):
        extract_features(manifest, reference_store, feature_store,
                         config=features_config(fold_checkpoints=str(fold_checkpoints)), execution=IN_PROCESS)
    with pytest.raises(StoreError, match=f"extracted with --fold-checkpoints {fold_checkpoints}; pass it again"):
        extract_features(manifest, reference_store, oof_feature_store, config=features_config(), execution=IN_PROCESS)
    other = tmp_path / "other-folds"
    shutil.copytree(fold_checkpoints, other)
    save_checkpoint(fold_checkpoint(other, 2, "flow"), build_backbone("tiny", "flow", len(manifest.classes)),
                    class_names=manifest.classes)
    with pytest.raises(StoreError, match="extracted with other fold checkpoints"):
        extract_features(manifest, reference_store, oof_feature_store,
                         config=features_config(fold_checkpoints=str(other)), execution=IN_PROCESS)
    wider = tmp_path / "wider-folds"  # a new path: load_stream caches checkpoints by path
    shutil.copytree(fold_checkpoints, wider)
    save_checkpoint(fold_checkpoint(wider, 2, "flow"), build_backbone("tiny", "flow", len(manifest.classes) + 1))
    with pytest.raises(StoreError, match="differs from the full flow checkpoint in num_classes"):
        extract_features(manifest, reference_store, tmp_path / "new.zarr",
                         config=features_config(fold_checkpoints=str(wider)), execution=IN_PROCESS)
    assert not (tmp_path / "new.zarr").exists()


def test_imagenet_features_need_no_checkpoint_file(tiny_dataset, reference_store, features_config, tmp_path):
    from twostream.data.io import file_sha256
    from twostream.fusion.errors import FeatureSourceError
    from twostream.fusion.sources import StoredFeatureSource
    from twostream.pipeline.backbones.registry import imagenet_weights

    _, manifest = tiny_dataset
    video = manifest.videos[0]
    config = features_config(rgb_checkpoint="imagenet", flow_checkpoint="imagenet:efficientnet_lite0", snippets=1,
                             crops=1, rgb_taps=("logits",), flow_taps=("global_pool",))
    summary = extract_features(manifest.subset([video.video_id]), reference_store, tmp_path / "imagenet.zarr",
                               config=config, execution=IN_PROCESS)
    assert summary.ok
    store = FeatureStore.open(tmp_path / "imagenet.zarr")
    weights_sha256 = file_sha256(imagenet_weights("efficientnet_lite0"))
    for stream in ("rgb", "flow"):
        recorded = store.stream_config(stream)
        assert (recorded["pretrained"], recorded["checkpoint_sha256"], recorded["num_classes"]) == (
            "imagenet:efficientnet_lite0", weights_sha256, 1000)
        assert store.attrs["checkpoints"][stream] == "imagenet:efficientnet_lite0"
    assert store.read(video.video_id, "rgb/logits").shape == (1, 1, 1000)
    assert store.read(video.video_id, "flow/global_pool").shape == (1, 1, 1280)
    with pytest.raises(FeatureSourceError, match="scores 1000 classes but the dataset has"):
        StoredFeatureSource(tmp_path / "imagenet.zarr")
    with pytest.raises(StoreError, match="--rgb-prefix picks a network from a checkpoint file"):
        extract_features(manifest, reference_store, tmp_path / "x.zarr", config=features_config(
            rgb_checkpoint="imagenet", rgb_prefix="rgb_"), execution=IN_PROCESS)


# ---- dense sampling (temporal localisation) -----------------------------------------------------------------
def test_dense_store_has_a_snippet_every_stride_frames_averaged_over_crops(tiny_dataset, dense_feature_store):
    from twostream.data.sampling import dense_snippets

    _, manifest = tiny_dataset
    store = FeatureStore.open(dense_feature_store)
    assert store.video_ids() == sorted(v.video_id for v in manifest)
    assert store.sampling_kind == "dense" and not store.has_flowmag
    sampling = store.config["sampling"]
    assert (sampling["stride"], sampling["crops"], sampling["crop_reduction"]) == (2, 10, "mean")
    assert "snippets" not in sampling
    video_id = manifest.videos[0].video_id
    attrs = store.video(video_id).attrs
    assert attrs["flow_stack_starts"] == dense_snippets(attrs["frames"], 2).tolist() and attrs["stride"] == 2
    assert store.taps("rgb") == ["global_pool", "logits"] and store.taps("flow") == ["global_pool", "logits"]
    assert store.read(video_id, "rgb/global_pool").shape == (5, 1, 32)
    assert store.read(video_id, "flow/logits").shape == (5, 1, len(manifest.classes))
    assert "flowmag" not in store.video(video_id)


def test_dense_logits_are_the_mean_of_the_network_over_the_ten_crops(tiny_dataset, reference_store,
                                                                   dense_feature_store, checkpoints):
    import cv2

    from twostream.data.sampling import cut_flow, dense_snippets, flow_channels
    from twostream.pipeline.backbones import load_checkpoint

    _, manifest = tiny_dataset
    frames, store = FrameStore.open(reference_store), FeatureStore.open(dense_feature_store)
    video_id = manifest.videos[2].video_id
    start = int(dense_snippets(frames.num_frames(video_id), 2)[3])
    crops = evaluation_crops(48, 64, 40, 10)
    frame = frames.rgb(video_id, [int(rgb_index(start))])[0]
    stack = frames.flow(video_id, start, FLOW_STACK)
    views = {"rgb": np.stack([cv2.resize(np.ascontiguousarray(cut(frame, c)), (56, 56)).transpose(2, 0, 1)
                              for c in crops]),
             "flow": np.stack([flow_channels(np.stack([cv2.resize(np.ascontiguousarray(f), (56, 56))
                                                       for f in cut_flow(stack, c)])) for c in crops])}
    for stream, view in views.items():
        net = load_checkpoint(checkpoints[stream]).build()
        with torch.no_grad():
            expected = net(net.normalization.apply(torch.from_numpy(view), stream)).numpy().mean(axis=0)
        np.testing.assert_allclose(store.read(video_id, f"{stream}/logits")[3, 0], expected, rtol=1e-5, atol=1e-5)


def test_dense_settings_that_cannot_run_are_refused(tiny_dataset, reference_store, dense_feature_store,
                                                   features_config, fold_checkpoints, tmp_path):
    from twostream.data.sampling import SamplingError

    _, manifest = tiny_dataset
    with pytest.raises(SamplingError, match="--sampling dense needs --stride N"):
        features_config(sampling="dense")
    with pytest.raises(SamplingError, match="--stride applies to --sampling dense"):
        features_config(stride=4)
    with pytest.raises(SamplingError, match="unknown sampling 'sparse'"):
        features_config(sampling="sparse")
    with pytest.raises(SamplingError, match="without --fold-checkpoints"):
        features_config(sampling="dense", stride=2, fold_checkpoints=str(fold_checkpoints))
    one = manifest.subset([manifest.videos[0].video_id])
    with pytest.raises(SamplingError, match="rgb tap 'conv3' is a map .* use --crops 1"):
        extract_features(one, reference_store, tmp_path / "maps.zarr",
                         config=features_config(sampling="dense", stride=2, rgb_taps=("conv3", "logits")),
                         execution=IN_PROCESS)
    assert not (tmp_path / "maps.zarr").exists()
    summary = extract_features(one, reference_store, tmp_path / "centre.zarr",
                               config=features_config(sampling="dense", stride=3, crops=1, rgb_taps=("conv3",)),
                               execution=IN_PROCESS)
    assert summary.ok
    assert FeatureStore.open(tmp_path / "centre.zarr").read(one.videos[0].video_id, "rgb/conv3").shape == (3, 1, 32, 7, 7)
    with pytest.raises(StoreError, match="another configuration"):
        extract_features(manifest, reference_store, dense_feature_store, config=features_config(), execution=IN_PROCESS)


def test_fusion_refuses_a_dense_store_with_what_to_do(dense_feature_store):
    from twostream.fusion.errors import FeatureSourceError
    from twostream.fusion.sources import StoredFeatureSource

    with pytest.raises(FeatureSourceError, match="dense features .one snippet every 2 frames.*--sampling tsn"):
        StoredFeatureSource(dense_feature_store)


def test_dense_features_of_a_real_ucf101_clip(shared_data, checkpoints, tmp_path, fast_frames_config):
    from twostream.data.manifest import Manifest, VideoEntry
    from twostream.pipeline.extract_frames import extract_frames
    from twostream.pipeline.extract_features import FeatureExtractionConfig

    manifest = Manifest("real", str(shared_data / "videos"), ["a", "b", "c", "d"],
                        [VideoEntry("v_ApplyEyeMakeup_sample", "v_ApplyEyeMakeup_sample.avi", 0, "a")])
    assert extract_frames(manifest, tmp_path / "frames.zarr", config=fast_frames_config, execution=IN_PROCESS).ok
    config = FeatureExtractionConfig(rgb_checkpoint=str(checkpoints["rgb"]), flow_checkpoint=str(checkpoints["flow"]),
                                     sampling="dense", stride=16, crops=1, crop_size=224, input_size=56)
    assert extract_features(manifest, tmp_path / "frames.zarr", tmp_path / "dense.zarr", config=config,
                            execution=IN_PROCESS).ok
    store = FeatureStore.open(tmp_path / "dense.zarr")
    attrs = store.video("v_ApplyEyeMakeup_sample").attrs
    assert attrs["frames"] == 164 and attrs["rgb_frames"] == list(range(8, 164, 16))
    assert store.read("v_ApplyEyeMakeup_sample", "flow/global_pool").shape == (10, 1, 32)
