"""Heads sized to the cached features: the gating ConvNet (pooled or the network's layers after the
tap) and the m-fusion, baseline A/B and amplification heads, with the fields and taps each reads."""
from __future__ import annotations

import numpy as np
import torch

from twostream.data.sampling import STREAMS
from twostream.fusion.configs import HEAD_INPUTS, HEADS, GateConfig, HeadConfig
from twostream.fusion.errors import FusionError
from twostream.fusion.features import FeatureSource
from twostream.fusion.heads.amplification import FeatureAmplificationHead
from twostream.fusion.heads.gating import GatedFusionHead
from twostream.fusion.heads.map_fusion import body_for_concat
from twostream.fusion.heads.multiplicative import baseline_a_head, baseline_b_head, multiplicative_fusion_head
from twostream.fusion.heads.pooled_body import PooledPairBody
from twostream.fusion.sources import last_map_tap, pooled_tap
from twostream.fusion.splits import SplitSources
from twostream.fusion.stream_networks import gate_network, stream_network
from twostream.pipeline.stores.feature_store import FeatureReader

STANDARDISE_VIEWS = 16  # views per training video that fix the pooled body's standardisation


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
        net = gate_network(store, config)
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
        # each stream pooled on its own (a channel's mean is the same either way): no joined float32 copy of
        # both maps, whose allocation a video at a time grew the heap with the number of videos
        rows.append(torch.cat([body.pooled(torch.from_numpy(np.asarray(arrays[name], dtype=np.float32)))
                               for name in ("rgb_map", "flow_map")], dim=1))
    return torch.cat(rows)


def build_head(config: HeadConfig, store: FeatureReader, sources: SplitSources, rgb_map_tap: str | None = None):
    """An m-fusion, baseline A/B or amplification head sized to the cached features.

    Amplification fine-tunes a trainable copy of the spatial net's layers after `rgb_map_tap` (None:
    its last convolutional map, after which come global pooling and the fully connected layers only,
    as in Park et al.).
    """
    kind, on, width, dropout = config.head, config.on, config.width, config.dropout
    num_classes = sources.train.num_classes
    if kind == "amplification":
        net = stream_network(store, config.checkpoint).build()
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
