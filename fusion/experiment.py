"""The fusion experiments as the command line runs them: per split, carve validation by group, load
the cached features, train a head (gated fusion, m-fusion, amplification, baselines A and B), and
compare every method on the test list in one table."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from twostream.data.manifest import Manifest
from twostream.data.metrics import (
    VideoScores,
    accuracy_interval,
    bootstrap_samples,
    mean_class_accuracy_of,
    oracle_correct,
    paired_difference_interval,
)
from twostream.data.sampling import STREAMS
from twostream.data.selection import BY_LAST
from twostream.data.validation import ValidationPower, carve_validation, validation_power
from twostream.fusion import late
from twostream.fusion.checkpoint_location import locate_checkpoint
from twostream.fusion.errors import FusionError, ReportError
from twostream.fusion.features import FeatureSource, require_fields, stream_scores
from twostream.fusion.heads.amplification import FeatureAmplificationHead
from twostream.fusion.heads.gating import GatedFusionHead
from twostream.fusion.heads.map_fusion import body_for_concat
from twostream.fusion.heads.pooled_body import PooledPairBody
from twostream.fusion.heads.multiplicative import baseline_a_head, baseline_b_head, multiplicative_fusion_head
from twostream.fusion.results import ResultsTable
from twostream.fusion.sources import (
    OUT_OF_FOLD_ADVICE,
    TapChoice,
    ZarrFeatureSource,
    field_arrays,
    last_map_tap,
    open_fusion_store,
    pooled_tap,
)
from twostream.fusion.training.analysis import analyse
from twostream.fusion.training.learning import Finding, flag_learning
from twostream.fusion.training.loop import FitResult, TrainConfig, train_fusion_head, train_gated_fusion
from twostream.fusion.training.runs import PREDICTIONS, RunDir, load_run, split_folder, split_name
from twostream.fusion.training.schedule import (
    PARK_BATCH,
    PARK_ITERATIONS,
    PARK_LRS,
    PARK_STEP_ITERATIONS,
    iterations_to_epochs,
)
from twostream.fusion.training.tasks import DEFAULT_SCORE_WEIGHTS, FINAL_SCORES, checked_score_weights
from twostream.fusion.training.train_scores import TRAIN_SCORES, DroppedOutScores, OutOfFoldScores
from twostream.pipeline.backbones import (
    IMAGENET_BACKBONES,
    Backbone,
    LoadedCheckpoint,
    build_backbone,
    load_checkpoint,
    load_checkpoint_bytes,
)
from twostream.pipeline.backbones.registry import TSN_DROPOUT
from twostream.pipeline.stores.feature_store import FeatureReader

log = logging.getLogger(__name__)

HEADS = ("mfusion", "baseline-a", "baseline-b", "amplification")
PARK_TRAINING = TrainConfig(batch_size=PARK_BATCH, lrs=PARK_LRS, segments=1, schedule="steps")
HEAD_INPUTS = {"maps": ("rgb_map", "flow_map"), "vectors": ("rgb_vec", "flow_vec")}
GATE_FUSIONS = ("conv", "concat")
GATE_ACTIVATIONS = ("relu", "softmax")
GATE_INITS = ("spatial", "imagenet")  # where the gate's body starts: the fine-tuned spatial net, or ImageNet
# the gate's body: both maps pooled side by side and a hidden layer, or the network's layers after the tap (the paper)
GATE_BODIES = ("pooled", "layers")
STANDARDISE_VIEWS = 16  # views per training video that fix the pooled body's standardisation
SCORED_ON = {"clean": "", "dropout": ", dropout scores", "out-of-fold": ", out-of-fold scores"}  # method name suffix


@dataclass(frozen=True, kw_only=True)
class _SplitConfig:
    """What every fusion command shares: the split, and the share of its training videos carved for validation."""

    split: str = "1"
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        """Refuse a split or validation share no command can use."""
        if not self.split:
            raise FusionError("split must be a split name such as '1', or 'all'")
        if not 0.0 < self.val_fraction < 1.0:
            raise FusionError(f"val_fraction must be in (0, 1), got {self.val_fraction}")


@dataclass(frozen=True, kw_only=True)
class _TrainingConfig(_SplitConfig):
    """What train-gate and train-mfuse share: the spatial checkpoint, the head's dropout, the loop, the run."""

    checkpoint: str | None = None  # the spatial checkpoint (None: the one the store records)
    dropout: float = 0.5
    training: TrainConfig = field(default_factory=TrainConfig)
    overwrite: bool = False
    preload: bool = False  # read the split's features into memory first (small datasets), else stream them
    # the streams' scores (and features) training reads: cached ("clean"), under dropout, or the fold models'
    train_scores: str = "clean"

    def __post_init__(self) -> None:
        """Refuse a dropout rate outside [0, 1) or unknown train scores besides what `_SplitConfig` refuses."""
        super().__post_init__()
        if not 0.0 <= self.dropout < 1.0:
            raise FusionError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.train_scores not in TRAIN_SCORES:
            raise FusionError(f"train scores {self.train_scores!r}: use one of {', '.join(TRAIN_SCORES)}")


# The gate's training, chosen on the choice seeds of bench/fusion_quality.py: a softmax gate on the pooled body
# moves from equal weights within the few hundred steps a small dataset gives only at a rate of 0.03; and a fixed
# 16 epochs a phase, keeping the last, because a validation set the streams' average already gets nearly all right
# cannot rank the epochs in which the gate learns to weigh videos (it kept an early, nearly constant gate).
GATE_TRAINING = TrainConfig(lrs=(0.03, 0.003), selection=BY_LAST, max_epochs_per_phase=16)


@dataclass(frozen=True, kw_only=True)
class GateConfig(_TrainingConfig):
    """Settings of train-gate: the gate's make-up, Algorithm 1's lambda, the data carve.

    The defaults are what bench/fusion_quality.py chose on its choice seeds (a softmax gate on both
    streams' pooled maps, rates 0.03 then 0.003, 16 epochs a phase keeping the last; softmax rather than
    the ReLU gate, level with it on validation, because its weights cannot die); gated TSN's own gate is
    `PAPER_GATE`'s settings.
    """

    body: str = "pooled"
    fusion: str = "concat"
    activation: str = "softmax"
    training: TrainConfig = field(default_factory=lambda: GATE_TRAINING)
    lam: float = 1.0
    tap: str | None = None  # the map the gate reads (None: the store's map tap)
    gate_init: str = "spatial"  # the body's weights: the spatial net's, or its architecture's ImageNet ones
    train_bn: bool = False  # train the body's BatchNorm layers (the authors' release freezes them)
    flow_checkpoint: str | None = None  # the temporal checkpoint, for dropout scores (None: the recorded one)
    dropout: float = 0.8
    # bench/fusion_quality.py's report seeds: dropout scores did no better than clean ones on either preset
    train_scores: str = "clean"
    score_dropout: tuple[float, float] = (TSN_DROPOUT["rgb"], TSN_DROPOUT["flow"])  # rgb, flow (dropout scores)

    def __post_init__(self) -> None:
        """Refuse settings the gate cannot be trained with."""
        super().__post_init__()
        if self.fusion not in GATE_FUSIONS:
            raise FusionError(f"gate fusion {self.fusion!r}: use one of {', '.join(GATE_FUSIONS)}")
        if self.body not in GATE_BODIES:
            raise FusionError(f"gate body {self.body!r}: use one of {', '.join(GATE_BODIES)}")
        if self.activation not in GATE_ACTIVATIONS:
            raise FusionError(f"gate activation {self.activation!r}: use one of {', '.join(GATE_ACTIVATIONS)}")
        if self.gate_init not in GATE_INITS:
            raise FusionError(f"gate init {self.gate_init!r}: use one of {', '.join(GATE_INITS)}")
        if self.body == "pooled" and self.fusion != "concat":
            raise FusionError("the pooled gate body reads the two streams' maps side by side: use fusion concat, "
                              "or the layers body for conv fusion")
        if self.body == "pooled" and self.gate_init != "spatial":
            raise FusionError("the pooled gate body has no pretrained layers: gate init applies to the layers body")
        if self.body == "pooled" and self.train_bn:
            raise FusionError("the pooled gate body has no BatchNorm layers: --train-bn applies to the layers body")
        if self.lam < 0:
            raise FusionError(f"lambda must be non-negative, got {self.lam}")
        object.__setattr__(self, "score_dropout", tuple(float(p) for p in self.score_dropout))
        if len(self.score_dropout) != 2 or not all(0.0 <= p < 1.0 for p in self.score_dropout):
            raise FusionError(f"score dropout is two rates in [0, 1) (rgb, flow), got {list(self.score_dropout)}")


# Gated TSN's gate: the spatial net's layers after the tap on the streams' maps joined by a 1x1 conv, a ReLU
# gate, rates 0.001 then 0.0001, the body's BatchNorm frozen (`GateConfig(**PAPER_GATE)`)
PAPER_GATE = {"body": "layers", "fusion": "conv", "activation": "relu", "training": TrainConfig(),
              "train_bn": False}


PAPER_SCORE_WEIGHTS = "paper"  # each head's final score as Park et al. report it (see `paper_score_weights`)


def paper_score_weights(head: str) -> tuple[float, float, float] | None:
    """The (head, spatial, temporal) final-score weights Park et al. report for a head: 2:3:4 for m-fusion and
    the baselines; none for amplification, whose rows `evaluate` derives from its own scores."""
    return None if head == "amplification" else DEFAULT_SCORE_WEIGHTS


@dataclass(frozen=True, kw_only=True)
class HeadConfig(_TrainingConfig):
    """Settings of train-mfuse: which head, on which features, its final score and the data carve."""

    head: str = "mfusion"
    on: str = "maps"
    tap: str | None = None  # the maps fused or amplified (None: each backbone's last convolutional map)
    vec_tap: str | None = None  # the vectors --fuse vectors fuses (None: each backbone's pooled vector, VGG's fc7)
    width: int = 2048
    dropout: float = 0.7  # Park et al.: better than 0.5 in their tests
    # Park et al.'s training: batch 128, one view per sample, rates stepped by iteration count
    training: TrainConfig = field(default_factory=lambda: PARK_TRAINING)
    step_iterations: tuple[int, ...] = PARK_STEP_ITERATIONS
    iterations: int = PARK_ITERATIONS
    iteration_scale: float | None = None  # None: scaled to the dataset (see `iterations_to_epochs`)
    # head:spatial:temporal; None: the head alone; PAPER_SCORE_WEIGHTS: the paper's for this head
    score_weights: tuple[float, ...] | str | None = PAPER_SCORE_WEIGHTS
    final_score: str = "probabilities"  # average each network's softmax per view (Park et al.), or its logits

    def __post_init__(self) -> None:
        """Refuse settings the head cannot be trained with."""
        super().__post_init__()
        if self.head not in HEADS:
            raise FusionError(f"unknown head {self.head!r}; choose from {', '.join(HEADS)}")
        if self.on not in HEAD_INPUTS:
            raise FusionError(f"--fuse {self.on!r}: use one of {', '.join(HEAD_INPUTS)}")
        if self.width < 1:
            raise FusionError(f"m-fusion width must be at least 1, got {self.width}")
        reads_vectors = self.on == "vectors" and self.head != "amplification"
        if self.vec_tap and not reads_vectors:
            raise FusionError(f"--vector-tap {self.vec_tap} names the vectors --fuse vectors fuses; this head reads maps, "
                              "so name them with --map-tap")
        if self.tap and reads_vectors:
            raise FusionError(f"--map-tap {self.tap} names maps, but --fuse vectors fuses vectors; name them with --vector-tap")
        if self.train_scores == "dropout":
            raise FusionError("train scores 'dropout' do not apply to train-mfuse: m-fusion's loss reads no stream "
                              "scores; use clean or out-of-fold")
        if self.training.schedule == "steps" and (len(self.step_iterations) != len(self.training.lrs) - 1
                                                  or list(self.step_iterations) != sorted(self.step_iterations)
                                                  or self.step_iterations[-1:] >= (self.iterations,)):
            raise FusionError(f"a step schedule over {len(self.training.lrs)} rates needs {len(self.training.lrs) - 1} "
                              f"rising step iterations before the last iteration {self.iterations}; got "
                              f"{list(self.step_iterations)}")
        if self.final_score not in FINAL_SCORES:
            raise FusionError(f"final score {self.final_score!r}: use one of {', '.join(FINAL_SCORES)}")
        weights = paper_score_weights(self.head) if self.score_weights == PAPER_SCORE_WEIGHTS else self.score_weights
        object.__setattr__(self, "score_weights", checked_score_weights(weights))


@dataclass
class SplitSources:
    """One split's training, validation and test videos as feature sources."""

    split: str
    train: FeatureSource
    val: FeatureSource
    test: FeatureSource
    centre_crop: int
    validation: ValidationPower | None = None  # whether the validation videos can tell epochs apart


def resolve_splits(manifest: Manifest, split: str) -> list[str]:
    """Expand a --split value ("1", "2", "3" or "all") into the manifest's split names."""
    if split == "all":
        return manifest.split_names
    if split not in manifest.split_names:
        raise FusionError(f"split {split} is not in the manifest; it has {', '.join(manifest.split_names)}")
    return [split]


def split_sources(store: FeatureReader, manifest: Manifest, split: str, fields: Sequence[str],
                  *, val_fraction: float = 0.2, seed: int = 0, map_tap: TapChoice = None,
                  vec_tap: TapChoice = None, preload: bool = False, out_of_fold: bool = False) -> SplitSources:
    """Carve validation from a split's training videos by group; serve each part from the store.

    By default nothing is loaded here: training reads the views each step samples, evaluation one
    video at a time, so memory does not grow with the number of videos. With `preload` the `fields`
    of every video are read into memory once (faster for a small dataset, memory grows with it).
    With `out_of_fold`, training and validation read the fold models' oof/ arrays (maps, vectors and
    logits), the test videos the full models' arrays.
    """
    train_videos, val_videos = carve_validation(manifest, split, val_fraction, seed)
    test_videos = manifest.select(split, "test")
    sources: dict[str, FeatureSource] = {}
    for name, videos in (("train", train_videos), ("val", val_videos), ("test", test_videos)):
        lazy = ZarrFeatureSource(store, [v.video_id for v in videos], map_tap, vec_tap,
                                 out_of_fold_arrays=out_of_fold and name != "test")
        require_fields(lazy, fields)
        sources[name] = lazy.in_memory(fields) if preload else lazy
    return SplitSources(split, sources["train"], sources["val"], sources["test"], lazy.centre_crop(),
                        validation_power(val_videos, manifest.classes))


def fit_settings(training: TrainConfig, sources: SplitSources) -> TrainConfig:
    """The loop's settings for a split: its centre crop for validation and, where the validation videos are too
    few to tell epochs apart, no early stopping (every phase runs its epochs, the rates stepping at equal
    fractions of them) and the epoch of lowest loss kept."""
    settings = dataclasses.replace(training, eval_crop=sources.centre_crop)
    power = sources.validation
    if power is None or power.sufficient or settings.selection == BY_LAST:
        return settings
    log.warning("split %s: the validation set is too small to tell epochs apart (%s): training runs every epoch "
                "of each phase (the learning rates stepping at equal fractions of them) and keeps the one of lowest "
                "validation loss", sources.split, "; ".join(power.problems()))
    return dataclasses.replace(settings, selection="loss", early_stopping=False)


_STREAM_NAMES = {"rgb": "spatial", "flow": "temporal"}


def _stream_checkpoint(store: FeatureReader, checkpoint: str | None, stream: str = "rgb") -> LoadedCheckpoint:
    """The network a stream's features came from: `checkpoint`, else the one the store keeps, else the file the
    store records; a file is checked against the store's sha256."""
    recorded_path = store.attrs.get("checkpoints", {}).get(stream)
    name = _STREAM_NAMES[stream]
    kept = None if checkpoint else store.network(stream)
    if kept is not None:
        if kept.source_sha256 != store.stream_config(stream)["checkpoint_sha256"]:
            raise FusionError(f"{store.path}: the {name} network it keeps is not the one its features came from "
                              f"(sha256 differs); pass --{stream}-checkpoint with the checkpoint they were extracted "
                              "with")
        return load_checkpoint_bytes(kept.checkpoint, f"{store.path}/networks/{stream}")
    if checkpoint:
        path = checkpoint if Path(checkpoint).is_file() else None
    else:
        path = locate_checkpoint(recorded_path, store.path) if recorded_path else None
        if path is not None and str(path) != recorded_path:
            log.info("the %s checkpoint the store recorded at %s is at %s", name, recorded_path, path)
    if path is None:
        looked = checkpoint or (f"{recorded_path} (also looked for it below {Path(store.path).resolve().parent} and "
                                f"the folder above)" if recorded_path else "(not recorded in the store)")
        raise FusionError(f"the {name} checkpoint {looked} is not available; "
                          f"pass --{stream}-checkpoint with the checkpoint the features were extracted with")
    recorded = store.stream_config(stream)
    loaded = load_checkpoint(path, prefix=recorded.get("checkpoint_prefix"))
    if loaded.sha256 != recorded["checkpoint_sha256"]:
        raise FusionError(f"{path} is not the {name} checkpoint {store.path} was extracted with (sha256 differs)")
    return loaded


def dropped_out_scores(store: FeatureReader, checkpoints: Mapping[str, str | None],
                       dropout: Sequence[float]) -> DroppedOutScores:
    """Training-time scores from both streams' frozen classifiers on their cached pooled vectors, under dropout."""
    taps = {stream: pooled_tap(store, stream) for stream in STREAMS}
    for stream, tap in taps.items():
        if tap not in store.stream_config(stream)["taps"]:
            raise FusionError(f"{store.path} holds no {stream}/{tap}, which dropout scores need; extract "
                              f"features with --{stream}-taps ... {tap} logits, or use --train-scores clean")
    classifiers = {stream: _stream_checkpoint(store, checkpoints.get(stream), stream).build()
                   .classifier_after(taps[stream]) for stream in STREAMS}
    return DroppedOutScores(classifiers, dict(zip(STREAMS, dropout)))


def build_gate(store: FeatureReader, sources: SplitSources, config: GateConfig) -> GatedFusionHead:
    """The gating ConvNet: a trainable copy of a network's layers after the tap, two FC heads.

    The network is the spatial one the features came from, or with `config.gate_init` 'imagenet'
    the same architecture with its ImageNet weights (as the paper's gate, "pretrained on ImageNet").
    The body's BatchNorm layers stay frozen unless `config.train_bn`. With concat fusion at the
    last map tap the body is pooling alone, and the heads read the two streams' pooled maps side by
    side (see `body_for_concat`).
    """
    sample = sources.train.load(0, ["rgb_map", "flow_map"])
    rgb_channels, height, width = sample.get("rgb_map").shape[2:]
    flow_channels = sample.get("flow_map").shape[2]
    if config.body == "pooled":
        body = PooledPairBody(rgb_channels + flow_channels)
        body.standardise.fit(pooled_pairs(sources.train, body, STANDARDISE_VIEWS))
        body_dim = body.out_dim
    else:
        net = _gate_network(store, config)
        body, body_dim = net.layers_after(config.tap or store.stream_config("rgb")["map_tap"]), net.feature_dim
        if config.fusion == "concat":
            body, body_dim = body_for_concat(body, rgb_channels, flow_channels, height, width)
    return GatedFusionHead(body, body_dim, sources.train.num_classes, rgb_channels, flow_channels,
                           fusion=config.fusion, activation=config.activation, dropout=config.dropout,
                           frozen_bn=not config.train_bn)


def pooled_pairs(source: FeatureSource, body: PooledPairBody, views: int) -> torch.Tensor:
    """Both streams' pooled maps side by side, (rows, rgb + flow), at up to `views` views per video evenly
    spread over its snippets and crops: the samples that fix the pooled body's standardisation."""
    rows = []
    for index in range(len(source)):
        snippets, crops = source.view_grid(index)
        chosen = np.unique(np.linspace(0, snippets * crops - 1, min(views, snippets * crops)).round().astype(int))
        arrays = source.read_views(index, ["rgb_map", "flow_map"], chosen // crops, chosen % crops)
        maps = torch.cat([torch.from_numpy(np.asarray(arrays[name], dtype=np.float32)) for name in
                          ("rgb_map", "flow_map")], dim=1)
        rows.append(body.pooled(maps))
    return torch.cat(rows)


def _gate_network(store: FeatureReader, config: GateConfig) -> Backbone:
    """The network whose layers the gate's body copies: the spatial one, or its architecture on ImageNet."""
    spatial = _stream_checkpoint(store, config.checkpoint).build()
    if config.gate_init == "spatial":
        return spatial
    if spatial.name not in IMAGENET_BACKBONES:
        raise FusionError(f"gate init imagenet: no ImageNet weights for the {spatial.name} backbone of the spatial "
                          f"checkpoint install offline (only {', '.join(IMAGENET_BACKBONES)}); use --gate-init "
                          "spatial, or extract features with a checkpoint of one of those backbones")
    return build_backbone(spatial.name, "rgb", spatial.num_classes, pretrained=True)


def build_head(config: HeadConfig, store: FeatureReader, sources: SplitSources, rgb_map_tap: str | None = None):
    """An m-fusion, baseline A/B or amplification head sized to the cached features.

    Amplification fine-tunes a trainable copy of the spatial net's layers after `rgb_map_tap` (None:
    its last convolutional map, after which come global pooling and the fully connected layers only,
    as in Park et al.).
    """
    kind, on, width, dropout = config.head, config.on, config.width, config.dropout
    num_classes = sources.train.num_classes
    if kind == "amplification":
        net = _stream_checkpoint(store, config.checkpoint).build()
        return FeatureAmplificationHead(net.classifier_after(rgb_map_tap or net.last_map_tap), pool=False)
    a_name, b_name = HEAD_INPUTS[on]
    sample = sources.train.load(0, [a_name, b_name])
    a_dim, b_dim = sample.get(a_name).shape[2], sample.get(b_name).shape[2]
    maps = on == "maps"
    if kind == "mfusion":
        return multiplicative_fusion_head(a_dim, b_dim, num_classes, width=width, maps=maps, dropout=dropout)
    if kind == "baseline-a":
        return baseline_a_head(a_dim, b_dim, num_classes, dropout=dropout)
    if kind == "baseline-b":
        return baseline_b_head(a_dim, b_dim, num_classes, maps=maps, dropout=dropout)
    raise FusionError(f"unknown head {kind!r}; choose from {', '.join(HEADS)}")


def head_inputs(kind: str, on: str) -> tuple[str, str]:
    """The two feature fields a head reads."""
    return ("rgb_map", "flowmag") if kind == "amplification" else HEAD_INPUTS[on]


def head_taps(store: FeatureReader, config: HeadConfig) -> tuple[dict[str, str], dict[str, str]]:
    """The map and vector taps, per stream, that a head reads: the configured ones, else each stream's
    backbone's last convolutional map and pooled vector (`field_arrays` refuses one the store lacks)."""
    if config.head == "amplification":
        maps, vectors = {"rgb": config.tap or last_map_tap(store, "rgb")}, {}
    elif config.on == "maps":
        maps, vectors = {stream: config.tap or last_map_tap(store, stream) for stream in STREAMS}, {}
    else:
        maps, vectors = {}, {stream: config.vec_tap or pooled_tap(store, stream) for stream in STREAMS}
    return maps, vectors


def train_gate(store_path: str | Path, manifest: Manifest, runs: str | Path, name: str,
               config: GateConfig = GateConfig()) -> dict[str, FitResult]:
    """Train gated fusion with Algorithm 1 on each requested split; write runs/<name>/split<N>/."""
    store = open_fusion_store(store_path)
    training = config.training
    results = {}
    out_of_fold = config.train_scores == "out-of-fold"
    scores = train_scores_of(store, config)
    dropout_scores = isinstance(scores, DroppedOutScores)
    fields = ["rgb_map", "flow_map", "rgb_logits", "flow_logits", *(("rgb_vec", "flow_vec") if dropout_scores else ())]
    for each in resolve_splits(manifest, config.split):
        sources = split_sources(store, manifest, each, fields, val_fraction=config.val_fraction, seed=training.seed,
                                map_tap=config.tap, vec_tap=scores.taps if dropout_scores else None,
                                preload=config.preload, out_of_fold=out_of_fold)
        torch.manual_seed(training.seed)  # the head's new layers start from the run's seed, whatever ran before
        head = build_gate(store, sources, config)
        run = RunDir.create(Path(runs) / name, split_name(each), config.overwrite)
        settings = fit_settings(training, sources)
        results[each] = train_gated_fusion(head, sources.train, sources.val, config=settings, lam=config.lam, run=run,
                                           evaluate_on={"val": sources.val, "test": sources.test},
                                           train_scores=scores)
        trained = results[each].model
        run.write_analysis({name: analyse(source, trained, training.device)
                            for name, source in (("val", sources.val), ("test", sources.test))})
        run.update_config(method=gate_method(config, store.stream_config("rgb")["map_tap"]),
                          gate_init=config.gate_init)
        flag_learning(run, results[each])
    return results


def gate_method(config: GateConfig, store_tap: str) -> str:
    """A gate run's method name: its body and fusion, activation and lambda, and each setting off the default
    (another tap than the store's, an ImageNet body, trained BatchNorm, other training scores)."""
    joined = "pooled maps" if config.body == "pooled" else f"{config.fusion} into layers"
    settings = [joined if config.tap in (None, store_tap) else f"{joined} at {config.tap}",
                config.activation, f"lambda={config.lam:g}"]
    if config.gate_init != "spatial":
        settings.append(f"{config.gate_init} body")
    if config.train_bn:
        settings.append("trained BN")
    return f"gated fusion ({', '.join(settings)}{SCORED_ON[config.train_scores]})"


def train_scores_of(store: FeatureReader, config: GateConfig) -> DroppedOutScores | OutOfFoldScores | None:
    """What the gate's training fuses besides the cached clean scores: dropped-out or out-of-fold ones (None: clean)."""
    if config.train_scores == "dropout":
        return dropped_out_scores(store, {"rgb": config.checkpoint, "flow": config.flow_checkpoint},
                                  config.score_dropout)
    if config.train_scores == "out-of-fold":
        return OutOfFoldScores(_store_folds(store))
    return None


def _store_folds(store: FeatureReader) -> dict:
    """The folds of a store's out-of-fold arrays; refused when it has none."""
    if store.folds is None:
        raise FusionError(f"{store.path} holds no out-of-fold arrays; {OUT_OF_FOLD_ADVICE}")
    return store.folds


def train_mfuse(store_path: str | Path, manifest: Manifest, runs: str | Path, name: str,
                config: HeadConfig = HeadConfig()) -> dict[str, FitResult]:
    """Train an m-fusion, amplification or baseline head on each requested split; write runs/<name>/split<N>/."""
    store = open_fusion_store(store_path)
    training = config.training
    inputs = head_inputs(config.head, config.on)
    out_of_fold = config.train_scores == "out-of-fold"
    scores = OutOfFoldScores(_store_folds(store)).describe() if out_of_fold else {"mode": "clean"}
    maps, vectors = head_taps(store, config)
    fused = {name: array for name, array in field_arrays(store, maps, vectors).items() if name in inputs}
    results = {}
    for each in resolve_splits(manifest, config.split):
        sources = split_sources(store, manifest, each, [*inputs, "rgb_logits", "flow_logits"],
                                val_fraction=config.val_fraction, seed=training.seed, map_tap=maps, vec_tap=vectors,
                                preload=config.preload, out_of_fold=out_of_fold)
        torch.manual_seed(training.seed)  # the head's new layers start from the run's seed, whatever ran before
        model = build_head(config, store, sources, maps.get("rgb"))
        run = RunDir.create(Path(runs) / name, split_name(each), config.overwrite)
        settings = step_settings(fit_settings(training, sources), config,
                                 len(sources.train))
        results[each] = train_fusion_head(model, inputs, config.head, sources.train, sources.val, config=settings,
                                          score_weights=config.score_weights, run=run,
                                          evaluate_on={"val": sources.val, "test": sources.test},
                                          final_score=config.final_score)
        run.write_analysis({name: analyse(source) for name, source in (("val", sources.val), ("test", sources.test))})
        weights = ":".join(f"{w:g}" for w in config.score_weights) if config.score_weights else "head only"
        weights += "" if config.final_score == "probabilities" else " on logits"
        fused_name = "flow magnitude" if config.head == "amplification" else config.on
        run.update_config(method=f"{config.head} on {fused_name} ({weights}{SCORED_ON[config.train_scores]})",
                          train_scores=scores, fused=fused)
        flag_learning(run, results[each])
    return results


def step_settings(training: TrainConfig, config: HeadConfig, train_videos: int) -> TrainConfig:
    """A step schedule's epochs from the config's iteration counts (optimiser steps of batch x accumulate
    samples), for `train_videos` (plateau: unchanged)."""
    if training.schedule != "steps":
        return training
    batch = training.batch_size * training.accumulate  # samples per optimiser step
    steps = [iterations_to_epochs(i, batch, train_videos, config.iteration_scale) for i in config.step_iterations]
    epochs = iterations_to_epochs(config.iterations, batch, train_videos, config.iteration_scale)
    steps = [max(step, previous + 1) for previous, step in zip([0, *steps], steps)]  # rounding keeps them apart
    return dataclasses.replace(training, step_epochs=tuple(steps), epochs=max(epochs, steps[-1] + 1 if steps else 1))


@dataclass(frozen=True, kw_only=True)
class EvaluateConfig(_SplitConfig):
    """Settings of evaluate: the split, the validation carve the grid search uses, and the bootstrap."""

    seed: int = 0  # the validation carve's and the bootstrap's seed
    bootstrap: int = 1000  # resamples of the test videos for the intervals (0: none)
    level: float = 0.95
    # pairs of run folders (as given in run_roots) whose paired difference is reported, first minus second
    compare: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        """Refuse settings the comparison cannot be made with."""
        super().__post_init__()
        if self.bootstrap < 0:
            raise FusionError(f"bootstrap resamples must be 0 (none) or more, got {self.bootstrap}")
        if not 0.0 < self.level < 1.0:
            raise FusionError(f"the interval level must be in (0, 1), got {self.level}")
        object.__setattr__(self, "compare", tuple((str(a), str(b)) for a, b in self.compare))


ORACLE = "oracle: either stream's top-1 right"
REFERENCES = (late.TITLES[late.SEARCHED_RULE], late.TITLES["average"])  # what trained methods are compared with


def evaluate(store_path: str | Path, manifest: Manifest, run_roots: Sequence[str | Path],
             config: EvaluateConfig = EvaluateConfig()) -> ResultsTable:
    """Every method's mean class accuracy and top-1 per split: late-fusion rules and the trained runs.

    Amplification runs add Park et al.'s rows (see `amplification_rows`). With `config.bootstrap`
    resamples, each mean class accuracy gets its bootstrap interval over the test videos, each
    trained run its paired differences from the best fixed weighting (grid search on validation) and
    from the plain average (and the pairs of `config.compare` theirs), and the oracle (whichever
    stream's top-1 is right) a row.
    """
    store = open_fusion_store(store_path)
    roots = [str(root) for root in run_roots]
    unknown = [folder for pair in config.compare for folder in pair if folder not in roots]
    if unknown:
        raise FusionError(f"--compare names {unknown[0]}, which is not among --runs; compare runs you evaluate")
    table = ResultsTable()
    for each in resolve_splits(manifest, config.split):
        name = f"split {each}"
        sources = split_sources(store, manifest, each, ["rgb_logits", "flow_logits"], val_fraction=config.val_fraction,
                                seed=config.seed)
        val = (stream_scores(sources.val, "rgb"), stream_scores(sources.val, "flow"), sources.val.labels)
        test_rgb, test_flow = stream_scores(sources.test, "rgb"), stream_scores(sources.test, "flow")
        labels = sources.test.labels
        fused, flow_weight = late.late_fusion_scores(val, (test_rgb, test_flow))
        log.info("split %s: grid search chose flow weight %.2f", each, flow_weight)
        correct = {late.TITLES[rule]: scores.argmax(axis=1) == labels for rule, scores in fused.items()}
        trained: dict[str, str] = {}  # run folder -> method
        runs = [_trained_run(split_folder(root, each), sources.test) for root in roots]
        derived = amplification_rows(runs, test_flow.probabilities)
        for root, run in zip(roots, runs):
            _add_row(correct, run.title, run.scored.scores, labels, root)
            table.add_findings(run.title, name, run.learning)
            trained[root] = run.title
        for title, scores in derived.items():
            _add_row(correct, title, scores, labels, "the amplification rows")
        correct[ORACLE] = oracle_correct(test_rgb.logits, test_flow.logits, labels)
        samples = bootstrap_samples(len(labels), config.bootstrap, config.seed) if config.bootstrap else None
        for method, right in correct.items():
            interval = accuracy_interval(right, labels, samples, config.level) if samples is not None else None
            table.add(method, name, mean_class_accuracy_of(right, labels), float(right.mean()), interval)
        table.add_outcomes(name, sources.test.video_ids, labels, correct)
        pairs = [(method, reference) for method in [*trained.values(), *derived] for reference in REFERENCES]
        pairs += [(trained[first], trained[second]) for first, second in config.compare]
        for method, reference in pairs if samples is not None else ():
            table.add_difference(method, name, reference, paired_difference_interval(
                correct[method], correct[reference], labels, samples, config.level))
    return table


def _add_row(correct: dict[str, np.ndarray], title: str, scores: np.ndarray, labels: np.ndarray, origin: str) -> None:
    """Record which test videos a method got right, refusing a second method of the same title."""
    if title in correct:
        raise FusionError(f"{origin} and another run (or rule) are both named {title!r}; the table's rows need "
                          "distinct names: evaluate one of them, or train it under another setting")
    correct[title] = np.asarray(scores).argmax(axis=1) == labels


@dataclass(frozen=True)
class TrainedRun:
    """A trained run's title, its test results in the order of the test videos, its task's settings, and how
    its head did not learn (see `twostream.fusion.training.learning`)."""

    title: str
    scored: VideoScores
    task: Mapping
    learning: Sequence[Finding] = ()

    @property
    def head_probabilities(self) -> np.ndarray | None:
        """The head's own video-level softmax scores (the mean over views), or None when the run kept logits."""
        if self.task.get("final_score") != "probabilities":
            return None
        return self.scored.head_scores if self.scored.head_scores is not None else self.scored.scores


def amplification_rows(runs: Sequence[TrainedRun], flow_probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """Park et al.'s rows for each amplification run scored on softmax: S(amp) alone (when the run's own row
    is another combination), S(amp) + T by the l2-normalised softmax average, and with every m-fusion
    run's head, m-fusion : S(amp) : T at that run's weights (2:3:4), S(amp) in place of the spatial net.
    """
    rows: dict[str, np.ndarray] = {}
    fusions = [run for run in runs if run.task.get("method") == "mfusion" and run.head_probabilities is not None]
    for run in runs:
        amplified = run.head_probabilities
        if run.task.get("method") != "amplification" or amplified is None:
            continue
        if run.scored.head_scores is not None:
            rows[f"{run.title}: S(amp) alone"] = amplified
        rows[f"{run.title}: S(amp) + T, l2-normalised softmax"] = late.l2_softmax_average(amplified, flow_probabilities)
        for fusion in fusions:
            weights = fusion.task.get("score_weights") or DEFAULT_SCORE_WEIGHTS
            rows[f"{fusion.title} with {run.title} as S, {':'.join(f'{w:g}' for w in weights)}"] = (
                late.weighted_scores([fusion.head_probabilities, amplified, flow_probabilities], weights))
    return rows


def _trained_run(folder: Path, test: FeatureSource) -> TrainedRun:
    """A run's title, test results (in the order of `test`'s videos) and task settings."""
    if not (folder / PREDICTIONS).is_file():
        raise FusionError(f"{folder} has no {PREDICTIONS}; train it with train-gate or train-mfuse for this split")
    try:
        run = load_run(folder)
    except ReportError as error:
        raise FusionError(str(error)) from None
    records = run.predictions.get("test", [])
    present = {record["video_id"] for record in records}
    missing = [v for v in test.video_ids if v not in present]
    if missing:
        raise FusionError(f"{folder / PREDICTIONS} lacks test predictions for {len(missing)} videos (e.g. "
                          f"{missing[0]!r}); was it trained on another manifest or split?")
    wanted = set(test.video_ids)
    scored = VideoScores.from_records([r for r in records if r["video_id"] in wanted]).aligned(test.video_ids)
    if not np.array_equal(scored.labels, test.labels):
        raise FusionError(f"{folder / PREDICTIONS} labels its test videos otherwise than the manifest; was it "
                          "trained on another manifest?")
    return TrainedRun(str(run.config.get("method", folder.parent.name)), scored, run.config.get("task", {}),
                      run.learning)
