"""Whether a trained head learned: findings from real fits, logged as warnings and recorded in the run."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch
from torch import nn

from twostream.data.metrics import spatial_share
from twostream.fusion.heads.gating import GatedFusionHead
from twostream.fusion.training.learning import (
    CONSTANT_GATE,
    CONSTANT_GATE_STD,
    KEPT_FIRST_EPOCH,
    LEARNING,
    Finding,
    constant_gate,
    flag_learning,
    kept_first_epoch,
    learning_findings,
)
from twostream.fusion.training.loop import train_gated_fusion
from twostream.fusion.training.runs import RunDir, load_run


def test_a_head_that_cannot_improve_and_a_constant_gate_are_flagged_logged_and_recorded(stuck_gate_run, caplog):
    assert stuck_gate_run.best_epoch == 0 and len(stuck_gate_run.history) > 1
    shares = spatial_share(stuck_gate_run.predictions["test"].gate_weights)
    assert shares.std() < 1e-6  # 1 / (1 + 2) for every video
    with caplog.at_level(logging.INFO, logger="twostream"):
        findings = flag_learning(RunDir(stuck_gate_run.run_dir), stuck_gate_run)
    assert [finding.name for finding in findings] == [KEPT_FIRST_EPOCH, CONSTANT_GATE]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("twostream.")]
    assert [r.getMessage() for r in warnings] == [f"{stuck_gate_run.run_dir}: {f.message}" for f in findings]
    assert "kept its first epoch's weights" in findings[0].message and "--lrs" in findings[0].message
    assert "spatial share w1/(w1+w2) over the 48 test videos is 0.33" in findings[1].message
    assert load_run(stuck_gate_run.run_dir).learning == findings


def test_a_gate_that_learned_is_not_flagged(switching_splits, quick_training, tmp_path):
    train, val, test = switching_splits
    torch.manual_seed(0)
    head = GatedFusionHead(nn.Sequential(nn.Conv2d(8, 16, 1), nn.ReLU()), body_dim=16, num_classes=4, rgb_channels=8)
    run = RunDir.create(tmp_path, "gate")
    fit = train_gated_fusion(head, train, val, config=quick_training(), run=run, evaluate_on={"test": test})
    assert fit.best_epoch > 0 and spatial_share(fit.predictions["test"].gate_weights).std() >= CONSTANT_GATE_STD
    assert flag_learning(run, fit) == []
    record = load_run(run.path)
    assert record.config[LEARNING] == [] and record.learning == []


def test_the_checks_leave_alone_what_they_cannot_judge():
    assert kept_first_epoch(best_epoch=0, epochs=1) is None  # one epoch: nothing to improve on
    assert kept_first_epoch(best_epoch=-1, epochs=3).name == KEPT_FIRST_EPOCH  # not even epoch 0 validated
    assert constant_gate(None) is None and constant_gate(np.array([[1.0, 2.0]])) is None
    varied = np.array([[1.0, 1.0], [3.0, 1.0], [1.0, 3.0]])
    assert constant_gate(varied) is None and "over the 3 val videos" in constant_gate(varied[[0, 0, 0]], "val").message
    assert "try a higher learning rate" in constant_gate(varied[[0, 0, 0]]).message
    flow_only = constant_gate(np.array([[0.0, 1.0], [0.01, 0.99]]))  # as with a spatial stream at chance
    assert "trusts the temporal stream alone" in flow_only.message and "0.01 +- 0.005" in flow_only.message
    assert Finding.from_dict(Finding(CONSTANT_GATE, "m").to_dict()) == Finding(CONSTANT_GATE, "m")


def test_a_fit_without_gate_weights_is_judged_on_its_epochs_alone(stuck_gate_run):
    without_gate = dataclasses.replace(stuck_gate_run, predictions={})
    assert [finding.name for finding in learning_findings(without_gate)] == [KEPT_FIRST_EPOCH]
