"""A synthetic action dataset of real video files, in UCF101's folder and split-file layout.

Each class is an (appearance, motion) pair: an object of one shape and colour moving along one
trajectory over a moving textured background. Each video may degrade one of the two cues, so the
stream to trust changes from video to video. A degradation either blurs a cue, which leaves that
stream unsure, or misleads it, which makes that stream confidently wrong:

- appearance, unsure: ``low_contrast`` (object faded toward the background, grain over the frame),
  ``blur`` (shape dissolved, colour washed out);
- appearance, misleading: ``distractor`` (the true object is camouflaged, its surface a patch of
  the scene's texture that only its motion reveals, while a still object with another class's
  appearance stands in view: a single frame shows that other class);
- motion, unsure: ``shake`` (tiny object motion under strong camera shake), ``stutter`` (the object
  holds still and jumps every few frames);
- motion, misleading: ``mimic`` (the true object holds still in view while a camouflaged object of
  another class's shape moves along that class's trajectory: the flow shows that other class).

A misleading degradation is, to the stream it misleads, a genuine video of another class; each one
carries a trace that the other stream's input shows, so a fusion that reads both streams' features
can tell which stream to trust: the camera zooms in during a ``distractor`` video (seen in the
flow, not in a single frame) and a ``mimic`` video is letterboxed (still black bars, seen in the
frames, not in the flow). Groups play the role of UCF101's gNN groups: the videos of one group
share a background scene, and each split tests on whole groups.
"""
from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import ffmpeg
import numpy as np

from twostream.data.errors import TwostreamError
from twostream.data.io import atomic_path, write_text_atomic
from twostream.data.runtime import ffmpeg_executable

SHAPES = ("Disc", "Square", "Triangle", "Cross", "Ring", "Diamond")
COLOURS = {
    "Red": (225, 45, 40), "Green": (45, 200, 70), "Blue": (45, 85, 235),
    "Yellow": (235, 215, 40), "Magenta": (205, 55, 205), "Cyan": (40, 215, 215),
}
MOTIONS = ("Sway", "Bob", "Orbit", "Counterorbit", "Slide", "Eight", "Pulse", "Hop", "Spin", "Backslide")
UNSURE_DEGRADATIONS = {"appearance": ("low_contrast", "blur"), "motion": ("shake", "stutter")}
MISLEADING_DEGRADATIONS = {"appearance": "distractor", "motion": "mimic"}
ZOOM = 0.3  # a distractor video's camera zooms in by this share over the video
LETTERBOX = 0.12  # a mimic video's black bars, each this share of the frame height
SPLITS = 3


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and make-up of a synthetic dataset; the same config and seed give the same videos."""

    classes: int = 8
    videos_per_class: int = 20
    groups: int = 5
    width: int = 128
    height: int = 96
    frames: int = 24
    fps: float = 12.0
    container: str = "mixed"  # "mp4" (h264), "avi" (xvid) or "mixed" (alternating)
    degrade_fraction: float = 0.7
    mislead_fraction: float = 0.5  # share of the degraded videos whose degradation misleads
    seed: int = 0

    def validate(self) -> None:
        """Raise TwostreamError if the configuration cannot be rendered."""
        most = min(len(SHAPES) * len(COLOURS), len(MOTIONS))
        if not 2 <= self.classes <= most:
            raise TwostreamError(f"classes must be between 2 and {most}, got {self.classes}")
        if self.width % 2 or self.height % 2 or min(self.width, self.height) < 32:
            raise TwostreamError(f"frame size {self.width}x{self.height}: sides must be even and at least 32")
        if self.frames < 2 or self.fps <= 0:
            raise TwostreamError("a video needs at least 2 frames and a positive frame rate")
        if self.groups < SPLITS or self.videos_per_class < self.groups:
            raise TwostreamError(f"need at least {SPLITS} groups and one video per group and class")
        if self.container not in ("mp4", "avi", "mixed"):
            raise TwostreamError(f"container {self.container!r}: use mp4, avi or mixed")
        if not 0.0 <= self.degrade_fraction <= 1.0:
            raise TwostreamError("degrade fraction must be in [0, 1]")
        if not 0.0 <= self.mislead_fraction <= 1.0:
            raise TwostreamError("mislead fraction must be in [0, 1]")


PRESETS = {
    "tiny": SyntheticConfig(classes=4, videos_per_class=3, groups=3, width=64, height=48, frames=10, fps=10.0),
    "test": SyntheticConfig(classes=6, videos_per_class=6, groups=3, width=96, height=72, frames=16, fps=12.0),
    "demo": SyntheticConfig(classes=8, videos_per_class=20, groups=5, width=128, height=96, frames=24, fps=12.0),
    # bench/fusion_quality.py: split 1 tests 3 of 7 groups (152 videos) and trains on 200
    "quality": SyntheticConfig(classes=8, videos_per_class=44, groups=7, width=128, height=96, frames=12,
                               fps=12.0),
}
DEFAULT_PRESET = "demo"  # what make-synthetic renders unless told otherwise


@dataclass(frozen=True)
class VideoSpec:
    """What one synthetic video shows: its class cues, group, degradation and file name."""

    video_id: str
    class_index: int
    class_name: str
    group: int
    clip: int
    container: str
    degraded_cue: str | None  # "appearance", "motion" or None
    degradation: str | None
    decoy_class: int | None  # the class a misleading degradation imitates


def class_cues(index: int) -> tuple[str, str, str]:
    """Return (shape, colour, motion) of a class; every class has a distinct appearance and motion."""
    shape = SHAPES[index % len(SHAPES)]
    colour = list(COLOURS)[(index + index // len(SHAPES)) % len(COLOURS)]
    return shape, colour, MOTIONS[index]


def class_name(index: int) -> str:
    """Return a class's name, e.g. 'RedDiscSway'."""
    shape, colour, motion = class_cues(index)
    return f"{colour}{shape}{motion}"


def plan_videos(config: SyntheticConfig) -> list[VideoSpec]:
    """Return the specs of every video of a dataset, deterministically from its seed."""
    config.validate()
    specs = []
    for c in range(config.classes):
        for i in range(config.videos_per_class):
            rng = _rng(config.seed, c, i, 0)
            group, clip = i % config.groups + 1, i // config.groups + 1
            container = config.container if config.container != "mixed" else ("mp4", "avi")[i % 2]
            cue = kind = decoy = None
            if rng.random() < config.degrade_fraction:
                cue = ("appearance", "motion")[int(rng.integers(2))]
                if rng.random() < config.mislead_fraction:
                    kind = MISLEADING_DEGRADATIONS[cue]
                    decoy = int((c + 1 + rng.integers(config.classes - 1)) % config.classes)
                else:
                    kind = UNSURE_DEGRADATIONS[cue][int(rng.integers(len(UNSURE_DEGRADATIONS[cue])))]
            name = class_name(c)
            specs.append(VideoSpec(f"v_{name}_g{group:02d}_c{clip:02d}", c, name, group, clip,
                                   container, cue, kind, decoy))
    return specs


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


# ---- rendering -------------------------------------------------------------------------------

def _shape_sdf(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (in object radii) to a unit-size shape; negative inside."""
    if shape == "Disc":
        return np.hypot(u, v) - 1.0
    if shape == "Square":
        return np.maximum(np.abs(u), np.abs(v)) - 0.82
    if shape == "Diamond":
        return (np.abs(u) + np.abs(v)) / math.sqrt(2) - 0.8
    if shape == "Ring":
        return np.abs(np.hypot(u, v) - 0.72) - 0.28
    if shape == "Cross":
        bar = lambda a, b: np.maximum(np.abs(a) - 1.0, np.abs(b) - 0.33)  # noqa: E731
        return np.minimum(bar(u, v), bar(v, u))
    if shape == "Triangle":  # equilateral, pointing up
        k = math.sqrt(3.0)
        return np.maximum(np.abs(u) * k / 2 + v / 2, -v) - 0.5
    raise ValueError(shape)


def _trajectory(motion: str, phase: np.ndarray, amplitude: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Offsets (dx, dy), scale and rotation of an object along a class's motion, at phases in cycles."""
    angle = 2 * np.pi * phase
    zero, one = np.zeros_like(phase), np.ones_like(phase)
    s, c = np.sin(angle), np.cos(angle)
    table = {
        "Sway": (amplitude * s, zero, one, zero),
        "Bob": (zero, amplitude * s, one, zero),
        "Orbit": (amplitude * c, amplitude * s, one, zero),
        "Counterorbit": (amplitude * c, -amplitude * s, one, zero),
        "Slide": (amplitude * s * 0.75, amplitude * s * 0.75, one, zero),
        "Backslide": (amplitude * s * 0.75, -amplitude * s * 0.75, one, zero),
        "Eight": (amplitude * s, 0.5 * amplitude * np.sin(2 * angle), one, zero),
        "Pulse": (zero, zero, 1.0 + 0.45 * s, zero),
        "Hop": (0.4 * amplitude * c, amplitude * (0.5 - np.abs(s)), one, zero),
        "Spin": (zero, zero, one, angle),
    }
    return table[motion]


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A colourful background texture (float32, HxWx3, 0..255): gratings plus smooth blobs."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(60, 170, size=3).astype(np.float32)
    image = np.tile(base, (height, width, 1))
    for _ in range(4):
        theta, period = rng.uniform(0, np.pi), rng.uniform(6, 22)
        wave = np.sin((x * np.cos(theta) + y * np.sin(theta)) * 2 * np.pi / period + rng.uniform(0, 6.3))
        image += wave[..., None] * rng.uniform(-22, 22, size=3).astype(np.float32)
    coarse = rng.uniform(-35, 35, size=(height // 12 + 2, width // 12 + 2, 3)).astype(np.float32)
    image += _bilinear(coarse, y / 12.0, x / 12.0)
    return np.clip(image, 0, 255)


def _bilinear(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample an HxWxC image at float coordinates, clamped to its border."""
    h, w = image.shape[:2]
    ys = np.clip(ys, 0, h - 1.001)
    xs = np.clip(xs, 0, w - 1.001)
    y0, x0 = ys.astype(np.int32), xs.astype(np.int32)
    fy, fx = (ys - y0)[..., None], (xs - x0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


class _Renderer:
    """Draws the frames of one video from its spec."""

    def __init__(self, config: SyntheticConfig, spec: VideoSpec) -> None:
        self.config, self.spec = config, spec
        self.rng = _rng(config.seed, spec.class_index, spec.clip * 1000 + spec.group, 1)
        h, w = config.height, config.width
        self.unit = min(h, w)
        self.margin = int(self.unit * 0.5)
        self.scene = _texture(_rng(config.seed, 10_000 + spec.group), h + 2 * self.margin, w + 2 * self.margin)
        self.ys, self.xs = np.mgrid[0:h, 0:w].astype(np.float32)

    def frames(self) -> np.ndarray:
        cfg, spec, rng = self.config, self.spec, self.rng
        n, unit = cfg.frames, self.unit
        kind = spec.degradation
        t = np.arange(n, dtype=np.float32)
        cycles = rng.uniform(1.6, 2.4)
        phase = t / n * cycles + rng.uniform(0, 1)
        amplitude = unit * rng.uniform(0.15, 0.2)
        shape, colour, motion = class_cues(spec.class_index)
        if kind == "shake":
            amplitude *= 0.12
        dx, dy, scale, rot = _trajectory(motion, phase, amplitude)
        if kind == "stutter":  # hold each position for 4 frames, then jump
            held = (np.arange(n) // 4) * 4
            dx, dy, scale, rot = dx[held], dy[held], scale[held], rot[held]
        if kind == "mimic":  # the true object holds still
            dx, dy, scale, rot = np.zeros_like(dx), np.zeros_like(dy), np.ones_like(scale), np.zeros_like(rot)
        centre = np.array([cfg.width / 2, cfg.height / 2]) + rng.uniform(-0.08, 0.08, 2) * unit
        drift = rng.normal(0, 0.35, 2)  # slow camera pan: the background always moves a little
        cam_x, cam_y = drift[0] * t, drift[1] * t
        if kind == "shake":
            cam_x = cam_x + rng.normal(0, unit * 0.035, n)
            cam_y = cam_y + rng.normal(0, unit * 0.035, n)
        zoom = 1.0 + ZOOM * t / max(n - 1, 1) if kind == "distractor" else np.ones(n, dtype=np.float32)
        colour_rgb = np.array(COLOURS[colour], dtype=np.float32)
        radius = unit * rng.uniform(0.16, 0.2)
        softness, fade = 0.8, 0.0
        if kind == "low_contrast":
            fade = 0.8
        elif kind == "blur":
            softness, fade = radius * 0.7, 0.55
        noise_sigma = 14.0 if kind == "low_contrast" else 2.0
        side = rng.choice([-1, 1])
        aside = centre + np.array([side * unit * 0.3, -side * unit * 0.1])  # where a second object stands
        decoy_shape, decoy_colour, decoy_motion = class_cues(spec.decoy_class) if spec.decoy_class is not None \
            else (None, None, None)
        if kind == "mimic":  # the true object stands aside; the camouflaged decoy moves where objects move
            decoy_path = _trajectory(decoy_motion, phase, unit * rng.uniform(0.15, 0.2))
            centre, decoy_centre = aside, centre
        elif kind == "distractor":
            decoy_centre = aside
        out = np.empty((n, cfg.height, cfg.width, 3), dtype=np.uint8)
        mean_scene = self.scene.mean(axis=(0, 1))
        texture_at = rng.uniform(0.25, 0.75, 2) * np.array(self.scene.shape[1::-1])  # camouflage's scene patch
        for i in range(n):
            frame = self._scene_view(cam_x[i], cam_y[i], zoom[i])
            if kind == "distractor":  # a still object of another class's appearance
                self._draw(frame, decoy_shape, np.array(COLOURS[decoy_colour], dtype=np.float32),
                           decoy_centre, radius, 0.0, 0.8)
            if kind == "mimic":
                ddx, ddy, dscale, drot = (part[i] for part in decoy_path)
                self._draw(frame, decoy_shape, None, decoy_centre + (ddx, ddy), radius * dscale, drot, 0.8,
                           texture_at=texture_at)
            # The scene is fixed in the world and the camera moves: everything shifts by minus its offset.
            position = centre + (dx[i] - cam_x[i], dy[i] - cam_y[i])
            if kind == "distractor":
                self._draw(frame, shape, None, position, radius * scale[i], rot[i], 0.8, texture_at=texture_at)
            else:
                obj_colour = colour_rgb * (1 - fade) + mean_scene * fade
                self._draw(frame, shape, obj_colour, position, radius * scale[i], rot[i], softness)
            frame += rng.normal(0, noise_sigma, frame.shape).astype(np.float32)
            if kind == "mimic":
                bar = int(round(LETTERBOX * cfg.height))
                frame[:bar], frame[cfg.height - bar:] = 12.0, 12.0
            out[i] = np.clip(frame, 0, 255).astype(np.uint8)
        return out

    def _scene_view(self, cam_x: float, cam_y: float, zoom: float) -> np.ndarray:
        """The background as the camera sees it: panned by (cam_x, cam_y), magnified `zoom` times about
        the centre."""
        h, w = self.config.height, self.config.width
        ys = (self.ys - h / 2) / zoom + h / 2 + self.margin + cam_y
        xs = (self.xs - w / 2) / zoom + w / 2 + self.margin + cam_x
        return _bilinear(self.scene, ys, xs)

    def _draw(self, frame: np.ndarray, shape: str, colour: np.ndarray | None, centre, radius: float,
              rotation: float, softness: float, texture_at: np.ndarray | None = None) -> None:
        """Draw an object in `colour` (striped, so rotation shows), or camouflaged: its surface a patch of
        the scene's texture taken at `texture_at`, carried along with the object's motion."""
        c, s = math.cos(rotation), math.sin(rotation)
        px, py = self.xs - centre[0], self.ys - centre[1]
        u, v = (px * c + py * s) / radius, (-px * s + py * c) / radius
        alpha = np.clip(0.5 - _shape_sdf(shape, u, v) * radius / softness, 0.0, 1.0)[..., None]
        if texture_at is not None:
            surface = _bilinear(self.scene, texture_at[1] + v * radius, texture_at[0] + u * radius)
        else:
            stripes = 1.0 + 0.18 * np.sign(np.sin(u * np.pi * 2.5))[..., None]  # makes rotation visible
            surface = np.clip(colour * stripes, 0, 255)
        frame *= 1 - alpha
        frame += alpha * surface


def render_video(config: SyntheticConfig, spec: VideoSpec) -> np.ndarray:
    """Return the (frames, height, width, 3) uint8 RGB frames of one synthetic video."""
    return _Renderer(config, spec).frames()


def encode_video(frames: np.ndarray, path: Path, fps: float, container: str) -> None:
    """Encode RGB frames to an mp4 (h264) or avi (xvid) file, atomically."""
    n, h, w, _ = frames.shape
    with atomic_path(path) as temporary:
        _encode(frames, temporary, fps, container)


def _encode(frames: np.ndarray, path: Path, fps: float, container: str) -> None:
    n, h, w, _ = frames.shape
    codec = {"mp4": {"vcodec": "libx264", "preset": "veryfast", "crf": 16, "movflags": "+faststart"},
             "avi": {"vcodec": "libxvid", "q:v": 3, "vtag": "XVID"}}[container]
    process = (
        ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", framerate=fps)
        .output("file:" + str(path), format=container, pix_fmt="yuv420p", threads=1, **codec)
        .overwrite_output()
        .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
        .run_async(cmd=ffmpeg_executable(), pipe_stdin=True, pipe_stderr=True)
    )
    _, err = process.communicate(np.ascontiguousarray(frames).tobytes())
    if process.returncode != 0:
        raise TwostreamError(f"ffmpeg could not encode {path}: {err.decode('utf-8', 'replace').strip()}")


def split_test_groups(split: int, groups: int) -> set[int]:
    """Return the groups tested in a split: every third group, offset by the split number."""
    return {g for g in range(1, groups + 1) if (g - 1) % SPLITS == split - 1}


def make_synthetic(
    out: str | os.PathLike,
    config: SyntheticConfig = PRESETS[DEFAULT_PRESET],
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a synthetic dataset: `videos/<Class>/<video>`, UCF101-style `splits/`, and `metadata.json`.

    Videos already present with the same configuration are kept, so an interrupted run can resume.
    """
    config.validate()
    root = Path(out)
    specs = plan_videos(config)
    metadata_path = root / "metadata.json"
    if metadata_path.exists():
        previous = json.loads(metadata_path.read_text(encoding="utf-8")).get("config")
        if previous != asdict(config):
            raise TwostreamError(f"{root} holds a synthetic dataset made with another configuration; "
                                 "choose an empty folder or delete it")
    (root / "splits").mkdir(parents=True, exist_ok=True)
    write_text_atomic(metadata_path, json.dumps({"config": asdict(config), "videos": []}, indent=1) + "\n")

    def build(spec: VideoSpec) -> None:
        target = root / "videos" / spec.class_name / f"{spec.video_id}.{spec.container}"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            encode_video(render_video(config, spec), target, config.fps, spec.container)

    done = 0
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for _ in pool.map(build, specs):
            done += 1
            if progress:
                progress(done, len(specs))
    _write_split_files(root / "splits", config, specs)
    payload = {"config": asdict(config), "classes": [class_name(c) for c in range(config.classes)],
               "videos": [asdict(spec) for spec in specs]}
    write_text_atomic(metadata_path, json.dumps(payload, indent=1) + "\n")
    return root


def _write_split_files(folder: Path, config: SyntheticConfig, specs: list[VideoSpec]) -> None:
    crlf = "\r\n"  # as UCF101 distributes its lists
    classes = [class_name(c) for c in range(config.classes)]
    write_text_atomic(folder / "classInd.txt", "".join(f"{i + 1} {name}{crlf}" for i, name in enumerate(classes)))
    for split in range(1, SPLITS + 1):
        tested = split_test_groups(split, config.groups)
        train = [s for s in specs if s.group not in tested]
        test = [s for s in specs if s.group in tested]
        write_text_atomic(folder / f"trainlist{split:02d}.txt", "".join(
            f"{s.class_name}/{s.video_id}.{s.container} {s.class_index + 1}{crlf}" for s in train))
        write_text_atomic(folder / f"testlist{split:02d}.txt", "".join(
            f"{s.class_name}/{s.video_id}.{s.container}{crlf}" for s in test))


def preset(name: str, **overrides) -> SyntheticConfig:
    """Return a named preset ("tiny", "test", "demo") with fields overridden."""
    if name not in PRESETS:
        raise TwostreamError(f"unknown synthetic preset {name!r}; choose from {', '.join(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
