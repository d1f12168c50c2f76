"""Rawframes folders (mmaction2, TSN, denseflow) out of and back into frames.zarr."""
import numpy as np
import pytest

from twostream.pipeline.batch import Execution
from twostream.pipeline.extract_frames import extract_frames
from twostream.pipeline.stores.frame_store import FrameStore
from twostream.pipeline.stores.rawframes import RawframesError, export_rawframes, list_rawframes


def test_round_trip_through_rawframes(tiny_dataset, reference_store, fast_frames_config, tmp_path):
    _, manifest = tiny_dataset
    written = export_rawframes(reference_store, tmp_path / "raw").written
    assert written == FrameStore.open(reference_store).video_ids()
    video_id = written[0]
    frames, xs, ys = list_rawframes(tmp_path / "raw" / video_id)
    assert frames[0].name == "img_00001.jpg" and xs[0].name == "flow_x_00001.jpg" and len(xs) == len(frames) - 1
    imported = tmp_path / "imported.zarr"
    summary = extract_frames(manifest, imported, config=fast_frames_config, execution=Execution(no_cluster=True,
                                                                                                retries=0),
                             from_rawframes=tmp_path / "raw")
    assert summary.ok
    original, copy = FrameStore.open(reference_store), FrameStore.open(imported)
    for video_id in written:
        assert np.array_equal(original.rgb(video_id), copy.rgb(video_id))  # JPEG bytes kept as they were
        difference = np.abs(original.flow(video_id).astype(int) - copy.flow(video_id))
        assert difference.mean() < 0.5 and difference.max() <= 8  # flow passes through JPEG once
    with pytest.raises(RawframesError, match="exists"):
        export_rawframes(reference_store, tmp_path / "raw")


def test_denseflow_zero_based_names_are_read(reference_store, tmp_path):
    export_rawframes(reference_store, tmp_path / "raw")
    video_id = FrameStore.open(reference_store).video_ids()[0]
    folder = tmp_path / "raw" / video_id
    for path in sorted(folder.iterdir()):
        kind, number = path.stem.rsplit("_", 1)
        path.rename(folder / f"{kind.replace('flow_', '')}_{int(number) - 1:05d}.jpg")
    frames, xs, ys = list_rawframes(folder)
    assert frames[0].name == "img_00000.jpg" and xs[0].name == "x_00000.jpg" and len(ys) == len(xs)
    (folder / "y_00000.jpg").unlink()
    with pytest.raises(RawframesError, match="flow_x images but"):
        list_rawframes(folder)
