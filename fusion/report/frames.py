"""One representative RGB frame and flow field of a stored video, for figures and reports."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from twostream.pipeline.flow import dequantize_flow
from twostream.pipeline.stores.frame_store import FrameStore


def frame_and_flow_reader(frames_store: str | Path) -> Callable[[str], tuple[np.ndarray, np.ndarray]]:
    """Return a function giving a video's middle RGB frame and the flow field (pixels) leaving it."""
    store = FrameStore.open(frames_store)
    bound = float(store.config["bound"])

    def read(video_id: str) -> tuple[np.ndarray, np.ndarray]:
        middle = max(0, min(store.num_frames(video_id) // 2, store.num_frames(video_id) - 2))
        frame = store.rgb(video_id, [middle])[0]
        return frame, dequantize_flow(store.flow(video_id, middle, 1)[0], bound)

    return read
