"""Flow between two image files, written as .flo (and optionally a colour PNG): the `twostream flow` command."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from twostream.data.runtime import opencv
from twostream.pipeline.flow.color import flow_to_color
from twostream.pipeline.flow.errors import FlowError
from twostream.pipeline.flow.flo import write_flo
from twostream.pipeline.flow.registry import get_flow_algorithm


def read_gray(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as (H, W) uint8 grayscale; FlowError when missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FlowError(f"{path}: no such image file")
    cv2 = opencv("reading images")
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FlowError(f"{path}: not an image OpenCV can read (try PNG or JPEG)")
    return image


def flow_between_images(first: str | os.PathLike[str], second: str | os.PathLike[str],
                        out: str | os.PathLike[str], algorithm: str = "tvl1",
                        png: str | os.PathLike[str] | None = None, **options: Any) -> np.ndarray:
    """Compute the flow from image `first` to image `second`, write it to `out` (.flo) and optionally `png`.

    `options` go to get_flow_algorithm (e.g. device for tvl1). Returns the (H, W, 2) flow.
    """
    flow = get_flow_algorithm(algorithm, **options).compute_pair(read_gray(first), read_gray(second))
    write_flo(out, flow)
    if png is not None:
        rgb = flow_to_color(flow)
        cv2 = opencv("writing PNG images")
        if not cv2.imwrite(str(png), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise FlowError(f"{png}: could not write the PNG (check the folder exists and the name ends in .png)")
    return flow
