"""The settings of the fusion commands, each a frozen dataclass that refuses what its command cannot
run: train-gate's (`GateConfig`; gated TSN's own gate is `PAPER_GATE`), train-mfuse's (`HeadConfig`) and
evaluate's (`EvaluateConfig`), with the names of the choices they offer."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from twostream.data.selection import BY_LAST
from twostream.fusion.errors import FusionError
from twostream.fusion.training.loop import TrainConfig
from twostream.fusion.training.schedule import PARK_BATCH, PARK_ITERATIONS, PARK_LRS, PARK_STEP_ITERATIONS
from twostream.fusion.training.tasks import DEFAULT_SCORE_WEIGHTS, FINAL_SCORES, checked_score_weights
from twostream.fusion.training.train_scores import TRAIN_SCORES
from twostream.pipeline.backbones.registry import TSN_DROPOUT

HEADS = ("mfusion", "baseline-a", "baseline-b", "amplification")
PARK_TRAINING = TrainConfig(batch_size=PARK_BATCH, lrs=PARK_LRS, segments=1, schedule="steps")
HEAD_INPUTS = {"maps": ("rgb_map", "flow_map"), "vectors": ("rgb_vec", "flow_vec")}
GATE_FUSIONS = ("conv", "concat")
GATE_ACTIVATIONS = ("relu", "softmax")
GATE_INITS = ("spatial", "imagenet")  # where the gate's body starts: the fine-tuned spatial net, or ImageNet
# the gate's body: both maps pooled side by side and a hidden layer, or the network's layers after the tap (the paper)
GATE_BODIES = ("pooled", "layers")
SCORED_ON = {"clean": "", "dropout": ", dropout scores", "out-of-fold": ", out-of-fold scores"}  # method name suffix
# the videos the gate trains on: the split's training videos less the validation carve, or all of them (the carve
# then only monitors training: with the last epoch kept, nothing is chosen on it); auto: all of them when the last
# epoch is kept, else the carve is held out to choose the epoch on
GATE_TRAIN_ON = ("auto", "train", "train+val")


def _require_choice(what: str, value: str, choices: Iterable[str]) -> None:
    """Refuse a setting that is not one of its choices, naming them."""
    if value not in choices:
        raise FusionError(f"{what} {value!r}: use one of {', '.join(choices)}")


@dataclass(frozen=True, kw_only=True)
class SplitConfig:
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
class FusionTrainingConfig(SplitConfig):
    """What train-gate and train-mfuse share: the spatial checkpoint, the head's dropout, the loop, the run."""

    checkpoint: str | None = None  # the spatial checkpoint (None: the one the store records)
    dropout: float = 0.5
    training: TrainConfig = field(default_factory=TrainConfig)
    overwrite: bool = False
    preload: bool = False  # read the split's features into memory first (small datasets), else stream them
    # the streams' scores (and features) training reads: cached ("clean"), under dropout, or the fold models'
    train_scores: str = "clean"

    def __post_init__(self) -> None:
        """Refuse a dropout rate outside [0, 1) or unknown train scores besides what `SplitConfig` refuses."""
        super().__post_init__()
        if not 0.0 <= self.dropout < 1.0:
            raise FusionError(f"dropout must be in [0, 1), got {self.dropout}")
        _require_choice("train scores", self.train_scores, TRAIN_SCORES)


# The gate's training, chosen on the choice seeds of bench/fusion_quality.py: a softmax gate on the pooled body
# moves from equal weights within the few hundred steps a small dataset gives only at a rate of 0.03; and a fixed
# 16 epochs a phase, keeping the last, because a validation set the streams' average already gets nearly all right
# cannot rank the epochs in which the gate learns to weigh videos (it kept an early, nearly constant gate).
GATE_TRAINING = TrainConfig(lrs=(0.03, 0.003), selection=BY_LAST, max_epochs_per_phase=16)


@dataclass(frozen=True, kw_only=True)
class GateConfig(FusionTrainingConfig):
    """Settings of train-gate: the gate's make-up, Algorithm 1's lambda, the data carve.

    The defaults are what bench/fusion_quality.py chose on its choice seeds (a softmax gate on both
    streams' pooled maps, rates 0.03 then 0.003, 16 epochs a phase keeping the last; softmax rather than
    the ReLU gate, level with it on validation, because its weights cannot die; trained on every training
    video, the validation carve among them, with the streams' scores recomputed under dropout); gated TSN's
    own gate is `PAPER_GATE`'s settings.
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
    # bench/fusion_quality.py's choice seeds: the gate learns more from the videos the streams did not train on (the
    # streams' own validation videos, part of the split's training videos) and from scores under dropout, which
    # are wrong where the clean in-sample scores are right: together, +1.6 points over the best fixed weighting
    # above clean scores without those videos, and a larger share gap
    train_scores: str = "dropout"
    score_dropout: tuple[float, float] = (TSN_DROPOUT["rgb"], TSN_DROPOUT["flow"])  # rgb, flow (dropout scores)
    train_on: str = "auto"

    def __post_init__(self) -> None:
        """Refuse settings the gate cannot be trained with."""
        super().__post_init__()
        _require_choice("train on", self.train_on, GATE_TRAIN_ON)
        if self.train_on == "train+val" and self.training.selection != BY_LAST:
            raise FusionError(f"training on the validation videos too (train on {self.train_on}) leaves no video to "
                              f"choose an epoch on: keep the last epoch (--select {BY_LAST}), or hold the validation "
                              "videos out (--train-on train)")
        _require_choice("gate fusion", self.fusion, GATE_FUSIONS)
        _require_choice("gate body", self.body, GATE_BODIES)
        _require_choice("gate activation", self.activation, GATE_ACTIVATIONS)
        _require_choice("gate init", self.gate_init, GATE_INITS)
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

    @property
    def trains_on_validation(self) -> bool:
        """Whether the gate trains on the validation carve too (train on train+val, or auto with the last epoch
        kept)."""
        return self.train_on == "train+val" or (self.train_on == "auto" and self.training.selection == BY_LAST)


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
class HeadConfig(FusionTrainingConfig):
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
        _require_choice("head", self.head, HEADS)
        _require_choice("--fuse", self.on, HEAD_INPUTS)
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
        _require_choice("final score", self.final_score, FINAL_SCORES)
        weights = paper_score_weights(self.head) if self.score_weights == PAPER_SCORE_WEIGHTS else self.score_weights
        object.__setattr__(self, "score_weights", checked_score_weights(weights))


@dataclass(frozen=True, kw_only=True)
class EvaluateConfig(SplitConfig):
    """Settings of evaluate: the split, the validation carve the grid search uses, and the bootstrap."""

    seed: int = 0  # the validation carve's and the bootstrap's seed
    bootstrap: int = 1000  # resamples of the test videos for the intervals (0: none)
    level: float = 0.95
    # pairs of run folders (as given in evaluate's runs) whose paired difference is reported, first minus second
    compare: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        """Refuse settings the comparison cannot be made with."""
        super().__post_init__()
        if self.bootstrap < 0:
            raise FusionError(f"bootstrap resamples must be 0 (none) or more, got {self.bootstrap}")
        if not 0.0 < self.level < 1.0:
            raise FusionError(f"the interval level must be in (0, 1), got {self.level}")
        object.__setattr__(self, "compare", tuple((str(a), str(b)) for a, b in self.compare))
