"""Frozen two-stream backbones with named taps, and loaders for the checkpoints users have.

Building
    build_backbone(name, modality, num_classes, pretrained=False, dropout=None) -> Backbone
        name in BACKBONES: "bninception", "vgg16", "vgg19", "efficientnet_lite0", "tiny", "i3d";
        FRAME_BACKBONES are those that read one frame or one flow stack (all but "i3d", which reads
        clips (N, C, T, H, W) of 3-channel RGB or 2-channel flow, as piergiaj/pytorch-i3d's models);
        modality "rgb" (3 input channels) or "flow" (10: 5 flow frames, x and y interleaved),
        the flow net made from the RGB one by cross-modality initialisation (first conv weights
        averaged over RGB and repeated). pretrained=True loads the ImageNet weights that install
        offline (IMAGENET_BACKBONES: efficientnet_lite0 only). dropout=None: the architecture's default.
    create_backbone(name, num_classes, in_channels=3, dropout=None): no cross-modality step.
    backbone_type(name) -> the Backbone subclass, whose class attributes declare the taps below
        (DEFAULT_TAPS, MAP_TAP, LAST_MAP_TAP, POOLED_TAP) without building the network.
    to_flow(rgb_backbone, in_channels=10): cross-modality initialisation of an existing RGB net.

Backbone (an nn.Module)
    .name, .modality, .num_classes, .in_channels, .config
    .taps            every tap in forward order, e.g. BN-Inception: conv1, conv2, inception3a..3c,
                     inception4a..4e, inception5a, inception5b, global_pool, logits
    .default_taps    what feature extraction stores by default: the three taps below and the logits
                     (BN-Inception: inception4e, inception5b, global_pool, logits; VGG: conv5, fc7,
                     logits; EfficientNet-Lite0: stage6, head, global_pool, logits; tiny: conv3,
                     conv4, global_pool, logits)
    .map_tap         the feature map gated fusion reads by default (inception4e, conv5, stage6, conv3)
    .last_map_tap    the last convolutional map, which m-fusion and amplification read by default
                     (inception5b, conv5, head, conv4): only pooling and fully connected layers follow
    .pooled_tap      the pooled feature vector the final classifier reads (global_pool; VGG: fc7)
    .feature_dim     its length (1024, 4096, 1280, 32)
    .normalization   Normalization(name, channel_order, input_range, mean, std, flow_mean,
                     flow_std); .apply(x_0_255, modality) turns raw frames (RGB order) or
                     quantised flow into the network's input. It belongs to the weights: a loaded
                     checkpoint sets it.
    forward(x) -> logits
    forward_taps(x, taps) -> {tap: tensor}, running only as far as the last requested tap
    tap_shape(tap, input_size=224) -> (channels, h, w) or (length,)
    layers_after(tap) -> Backbone: a fresh trainable copy of the layers after `tap` up to the
        pooled vector (BN-Inception inception4e: inception5a, inception5b, global pool); its
        forward takes the tap's output and returns the pooled vector.
    classifier_after(tap) -> Backbone: the same up to the logits (VGG conv5: pool5, fc6, fc7, fc8).

Checkpoints
    load_checkpoint(path, strict=True, backbone=None, modality=None, num_classes=None,
                    normalization=None, prefix=None) -> LoadedCheckpoint
        recognises this project's format, mmaction 0.x TSN, tsn-pytorch, caffe2pytorch-tsn, TSN
        Caffe layer names, TSN's parse_caffe.py output, Cadene's pretrainedmodels, torchvision VGG
        and plain state dicts, in torch or safetensors files; refuses missing/unexpected/mis-shaped
        keys by name unless strict=False. prefix="rgb_" picks one network of a file holding
        several. normalization_named("caffe_tsn" | "tsn_pytorch" | "imagenet" | "i3d") gives overrides.
    imagenet_backbone("imagenet" | "imagenet:<backbone>") -> backbone name (None for a path);
    imagenet_checkpoint(backbone, modality) -> LoadedCheckpoint of the offline ImageNet weights
        (flow: cross-modality initialised).
    LoadedCheckpoint: .backbone, .modality, .num_classes, .class_names, .normalization, .sha256,
        .format, .config, .state_dict (backbone names), .build(device="cpu") -> Backbone (eval mode).
    save_checkpoint(path, backbone, class_names=None, config=None) -> sha256 of the file.
    checkpoint_bytes(backbone, class_names=None) -> the bytes of that file, to keep inside another;
    load_checkpoint_bytes(data, origin) -> LoadedCheckpoint of such bytes (`origin` names where they were kept).
"""
from twostream.pipeline.backbones.base import FLOW_CHANNELS, FLOW_STACK, RGB_CHANNELS, Backbone
from twostream.pipeline.backbones.checkpoints import (
    LoadedCheckpoint,
    checkpoint_bytes,
    load_checkpoint,
    load_checkpoint_bytes,
    save_checkpoint,
)
from twostream.pipeline.backbones.errors import BackboneError, CheckpointError, CheckpointMismatchError
from twostream.pipeline.backbones.imagenet import imagenet_backbone, imagenet_checkpoint
from twostream.pipeline.backbones.normalization import (
    CAFFE_TSN,
    I3D_NORMALIZATION,
    IMAGENET,
    NORMALIZATIONS,
    TSN_PYTORCH,
    Normalization,
    normalization_named,
)
from twostream.pipeline.backbones.registry import (
    BACKBONES,
    FRAME_BACKBONES,
    IMAGENET_BACKBONES,
    backbone_type,
    build_backbone,
    create_backbone,
)
from twostream.pipeline.backbones.temporal import cross_modality_weight, to_flow

__all__ = [
    "BACKBONES",
    "CAFFE_TSN",
    "FLOW_CHANNELS",
    "FLOW_STACK",
    "FRAME_BACKBONES",
    "I3D_NORMALIZATION",
    "IMAGENET",
    "IMAGENET_BACKBONES",
    "NORMALIZATIONS",
    "RGB_CHANNELS",
    "TSN_PYTORCH",
    "Backbone",
    "BackboneError",
    "CheckpointError",
    "CheckpointMismatchError",
    "LoadedCheckpoint",
    "Normalization",
    "backbone_type",
    "build_backbone",
    "checkpoint_bytes",
    "create_backbone",
    "cross_modality_weight",
    "imagenet_backbone",
    "imagenet_checkpoint",
    "load_checkpoint",
    "load_checkpoint_bytes",
    "normalization_named",
    "save_checkpoint",
    "to_flow",
]
