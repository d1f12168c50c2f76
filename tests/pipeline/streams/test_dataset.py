import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from twostream.data.sampling import evaluation_snippets, flow_channels, rgb_index
from twostream.pipeline.stores.frame_store import FrameGroupWriter, FrameStore
from twostream.pipeline.streams.dataset import EVAL_CROP_SHARE, ClipSampling, EpochShuffle, StreamClips, init_worker


def _clips(store, modality, train, size=40, segments=3):
    ids = FrameStore.open(store).video_ids()
    return StreamClips(store, [(video_id, n % 4) for n, video_id in enumerate(ids)],
                       ClipSampling(modality, segments, size, train=train, seed=3))


def _centre(image, size):
    height, width = image.shape[:2]
    side = int(min(height, width) * EVAL_CROP_SHARE)
    top, left = (height - side) // 2, (width - side) // 2
    return cv2.resize(np.ascontiguousarray(image[top:top + side, left:left + side]), (size, size))


def test_evaluation_items_are_centre_crops_of_evenly_spaced_snippets(reference_store):
    store = FrameStore.open(reference_store)
    video_id = store.video_ids()[0]
    starts = evaluation_snippets(store.num_frames(video_id), 3)
    rgb, label = _clips(reference_store, "rgb", train=False)[0]
    assert rgb.dtype == torch.uint8 and rgb.shape == (3, 3, 40, 40) and label == 0
    for k, start in enumerate(starts):
        frame = store.rgb(video_id, [int(rgb_index(start))])[0]
        assert np.array_equal(rgb[k].numpy(), _centre(frame, 40).transpose(2, 0, 1))
    flow, _ = _clips(reference_store, "flow", train=False)[0]
    assert flow.shape == (3, 10, 40, 40)
    stack = flow_channels(store.flow(video_id, int(starts[1]), 5))  # (10, H, W), x and y interleaved
    expected = np.stack([_centre(channel, 40) for channel in stack])
    assert np.array_equal(flow[1].numpy(), expected)


def test_training_items_depend_on_seed_epoch_and_index_only(reference_store):
    clips = _clips(reference_store, "flow", train=True)
    first = clips[1][0]
    assert torch.equal(clips[1][0], first)
    clips.set_epoch(1)
    assert not torch.equal(clips[1][0], first)
    clips.set_epoch(0)
    again = _clips(reference_store, "flow", train=True)
    assert torch.equal(again[1][0], first)


def _ramp_store(path):
    """One video whose frames brighten left to right, with flow x = 200 everywhere and flow y a left-right ramp."""
    store = FrameStore.create_or_open(path, {"frame_size": "native", "rgb_encoding": "raw"})
    ramp = np.linspace(0, 250, 64).astype(np.uint8)
    flow = np.empty((11, 48, 64, 2), dtype=np.uint8)
    flow[..., 0], flow[..., 1] = 200, ramp
    with store.write_video("ramp") as group:
        writer = FrameGroupWriter(group, 48, 64, "raw")
        for _ in range(12):
            writer.add_frame(np.ascontiguousarray(np.broadcast_to(ramp[None, :, None], (48, 64, 3))), 95)
        writer.add_flow(flow)
        writer.close()
    return path


def _mirrored(image: torch.Tensor) -> bool:
    """Whether a left-to-right ramp (C, H, W) now runs right to left."""
    return bool(image[0, 16, 0] > image[0, 16, -1])


def test_training_flips_mirror_frames_and_invert_flow_x(tmp_path):
    store = _ramp_store(tmp_path / "frames.zarr")
    rgb = StreamClips(store, [("ramp", 0)], ClipSampling("rgb", 2, 32, train=True))
    flow = StreamClips(store, [("ramp", 0)], ClipSampling("flow", 2, 32, train=True))
    rgb_flips, flow_flips = set(), set()
    for epoch in range(12):
        rgb.set_epoch(epoch)
        flow.set_epoch(epoch)
        rgb_flips.update(_mirrored(frame) for frame in rgb[0][0])
        for stack in flow[0][0]:
            mirrored = _mirrored(stack[1::2])  # flow y carries the ramp and keeps its values
            flow_flips.add(mirrored)
            assert set(stack[0::2].unique().tolist()) == {55 if mirrored else 200}
    assert rgb_flips == flow_flips == {True, False}


def test_workers_serve_the_same_batches_as_the_main_process(reference_store):
    clips = _clips(reference_store, "rgb", train=True, size=24)
    batches = []
    for workers in (0, 2):
        sampler = EpochShuffle(len(clips), seed=5)
        sampler.set_epoch(2)
        clips.set_epoch(2)
        loader = DataLoader(clips, batch_size=3, sampler=sampler, num_workers=workers,
                            worker_init_fn=init_worker if workers else None)
        batches.append([(x.clone(), y.clone()) for x, y in loader])
    assert len(batches[0]) == len(batches[1]) > 1
    for (x0, y0), (x1, y1) in zip(*batches):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_epoch_shuffle_is_a_permutation_fixed_by_seed_and_epoch():
    sampler = EpochShuffle(10, seed=1)
    first = list(sampler)
    assert sorted(first) == list(range(10)) and list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
