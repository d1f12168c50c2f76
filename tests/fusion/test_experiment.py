"""The fusion commands end to end on a real (tiny) features store: train-gate, train-mfuse, evaluate."""
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from twostream.cli.main import main
from twostream.data.metrics import VideoScores, mean_class_accuracy_of
from twostream.fusion.comparison import ORACLE, TrainedRun, amplification_rows, evaluate
from twostream.fusion.configs import EvaluateConfig, GateConfig, HeadConfig
from twostream.fusion.errors import FeatureSourceError, FusionError
from twostream.fusion.head_building import build_gate, build_head, head_taps
from twostream.fusion.results import ResultsTable
from twostream.fusion.sources import StoredFeatureSource
from twostream.fusion.splits import split_sources
from twostream.fusion.train import train_gate, train_mfuse
from twostream.fusion.training.learning import KEPT_FIRST_EPOCH
from twostream.fusion.training.loop import TrainConfig
from twostream.pipeline.backbones import build_backbone, load_checkpoint
from twostream.pipeline.stores.feature_readers import open_feature_store

QUICK = ["--max-epochs-per-phase", "2", "--patience", "1", "--batch-size", "4"]
# gated TSN's own gate: the spatial net's layers after the tap, conv fusion, a ReLU gate, its rates
PAPER_GATE_FLAGS = ["--body", "layers", "--fusion", "conv", "--activation", "relu", "--lrs", "0.001", "0.0001"]
# Park et al.'s step schedule, its counts shrunk: a few epochs on the tiny dataset
QUICK_STEPS = ["--step-iterations", "2", "4", "--iterations", "6", "--iteration-scale", "1"]
TOO_SMALL = ["1e-12", "1e-12"]  # learning rates that move no weight: validation cannot improve after epoch 0


@pytest.fixture(scope="module")
def runs(tiny_dataset, feature_store, tmp_path_factory, checkpoints):
    _, manifest = tiny_dataset
    folder = tmp_path_factory.mktemp("runs")
    manifest_path = manifest.save(folder / "manifest.json")
    common = [str(manifest_path), "--features", str(feature_store), *QUICK]
    assert main(["train-gate", *common, "--run", str(folder / "runs" / "gate"), "--train-scores", "clean"]) == 0
    assert main(["train-gate", *common, "--run", str(folder / "runs" / "gate-layers"), *PAPER_GATE_FLAGS, "--multitask-weight", "0",
                 "--train-scores", "clean"]) == 0
    assert main(["train-mfuse", *common, *QUICK_STEPS, "--run", str(folder / "runs" / "mfuse"), "--width", "16"]) == 0
    assert main(["train-mfuse", *common, "--schedule", "plateau", "--run", str(folder / "runs" / "base-a"), "--head", "baseline-a",
                 "--fuse", "vectors"]) == 0
    assert main(["train-mfuse", *common, "--schedule", "plateau", "--run", str(folder / "runs" / "amp"), "--head", "amplification",
                 "--map-tap", "conv3"]) == 0
    return folder, manifest_path


def test_runs_hold_checkpoint_metrics_and_test_predictions(runs, tiny_dataset):
    folder, _ = runs
    _, manifest = tiny_dataset
    gate = folder / "runs" / "gate" / "split1"
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "predictions.json"):
        assert (gate / name).is_file()
    predictions = json.loads((gate / "predictions.json").read_text())
    tested = {v.video_id for v in manifest.select(1, "test")}
    assert {r["video_id"] for r in predictions["test"]} == tested
    assert all(len(r["gate_weights"]) == 2 and min(r["gate_weights"]) >= 0 for r in predictions["test"])
    assert json.loads((gate / "config.json").read_text())["method"] == "gated fusion (pooled maps, softmax, lambda=1)"
    mfuse = json.loads((folder / "runs" / "mfuse" / "split1" / "config.json").read_text())
    assert mfuse["train"]["schedule"] == "steps" and mfuse["train"]["segments"] == 1
    assert mfuse["train"]["batch_size"] == 4 and mfuse["task"]["final_score"] == "probabilities"
    # 4 training videos and batches of 4 samples: one iteration is one epoch, so the steps at iterations 2 and 4
    # fall at epochs 2 and 4, and 6 iterations run 6 epochs, each a line of metrics
    assert mfuse["train_videos"] == 4
    assert mfuse["train"]["step_epochs"] == [2, 4] and mfuse["train"]["epochs"] == 6
    assert len((folder / "runs" / "mfuse" / "split1" / "metrics.jsonl").read_text().splitlines()) == 6


def test_train_mfuse_records_the_taps_it_fused(runs):
    folder, _ = runs
    fused = {name: json.loads((folder / "runs" / name / "split1" / "config.json").read_text())["fused"]
             for name in ("mfuse", "base-a", "amp")}
    assert fused == {"mfuse": {"rgb_map": "rgb/conv4", "flow_map": "flow/conv4"},  # tiny's last convolutional map
                     "base-a": {"rgb_vec": "rgb/global_pool", "flow_vec": "flow/global_pool"},
                     "amp": {"rgb_map": "rgb/conv3", "flowmag": "flowmag"}}  # as --tap asked


def test_mfuse_and_amplification_read_the_last_convolutional_map_not_the_gates(make_tap_store, tiny_dataset, tmp_path):
    store = make_tap_store("bninception", ["inception4e", "inception5b"], ["global_pool"])  # maps filled 1 and 2
    last = {"rgb": "inception5b", "flow": "inception5b"}
    assert head_taps(store, HeadConfig()) == (last, {})
    assert head_taps(store, HeadConfig(head="amplification")) == ({"rgb": "inception5b"}, {})
    assert head_taps(store, HeadConfig(tap="inception4e")) == ({"rgb": "inception4e", "flow": "inception4e"}, {})
    maps = StoredFeatureSource(store, map_tap=last).load(0, ["rgb_map", "flow_map"])
    assert maps.get("rgb_map").min() == maps.get("flow_map").max() == 2.0
    assert StoredFeatureSource(store).load(0, ["rgb_map"]).get("rgb_map").max() == 1.0  # the gate's inception4e
    gate_only = make_tap_store("bninception", ["inception4e"], ["global_pool"])
    _, manifest = tiny_dataset
    with pytest.raises(FeatureSourceError, match=r"holds no rgb/inception5b .*extract features with --rgb-taps "
                                                 r"inception5b"):
        train_mfuse(manifest, gate_only.path, tmp_path / "runs" / "mfuse", config=HeadConfig())


def test_amplification_fine_tunes_only_global_pooling_and_the_classifier(feature_store, tiny_dataset, checkpoints):
    _, manifest = tiny_dataset
    store = open_feature_store(feature_store)
    config = HeadConfig(head="amplification")
    maps, _ = head_taps(store, config)
    sources = split_sources(store, manifest, "1", ["rgb_map", "flowmag"], map_tap=maps)
    head = build_head(config, store, sources, maps["rgb"]).eval()
    assert maps == {"rgb": "conv4"} and head.fc.stages == ("global_pool", "logits")
    assert {name for name, p in head.named_parameters() if p.requires_grad} == {"fc.fc.weight", "fc.fc.bias"}
    spatial = load_checkpoint(checkpoints["rgb"]).state_dict
    assert torch.equal(head.fc.fc.weight, spatial["fc.weight"]) and torch.equal(head.fc.fc.bias, spatial["fc.bias"])
    # Maps of ones amplified by 1 + [[0, 1], [1, 2]] average to 2 in every channel before the classifier.
    logits = head(torch.ones(1, 32, 2, 2), torch.tensor([[[0.0, 1.0], [1.0, 2.0]]]))
    torch.testing.assert_close(logits[0], head.fc.fc.weight @ torch.full((32,), 2.0) + head.fc.fc.bias)


def test_evaluate_compares_every_method_in_one_table(runs, feature_store, capsys):
    folder, manifest_path = runs
    out = folder / "results.json"
    run_args = [str(folder / "runs" / name) for name in ("gate", "gate-layers", "mfuse", "base-a", "amp")]
    assert main(["evaluate", str(manifest_path), "--features", str(feature_store), "--runs", *run_args,
                 "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    methods = {row["method"] for row in table["rows"]}
    amp = "amplification on flow magnitude (head only)"
    assert {"spatial only", "temporal only", "weighted average (grid search)", "SCI fusion",
            "average of l2-normalised softmax", "gated fusion (pooled maps, softmax, lambda=1)",
            "gated fusion (conv into layers, relu, lambda=0)", "mfusion on maps (2:3:4)", "baseline-a on vectors (2:3:4)",
            amp, f"{amp}: S(amp) + T, l2-normalised softmax", f"mfusion on maps (2:3:4) with {amp} as S, 2:3:4"} <= methods
    assert out.with_suffix(".md").read_text().startswith("|")
    assert "gated fusion" in capsys.readouterr().out
    rows = {row["method"]: row for row in table["rows"]}
    for row in rows.values():
        cell = row["splits"]["split 1"]
        assert cell["interval"]["low"] <= cell["mean_class_accuracy"] <= cell["interval"]["high"]
    oracle = rows[ORACLE]["splits"]["split 1"]["mean_class_accuracy"]
    assert oracle >= max(rows[m]["splits"]["split 1"]["mean_class_accuracy"] for m in ("spatial only", "temporal only"))
    gate = rows["gated fusion (pooled maps, softmax, lambda=1)"]["differences"]["split 1"]
    assert set(gate) == {"weighted average (grid search)", "average of scores"}
    assert all(d["low"] <= d["estimate"] <= d["high"] for d in gate.values())
    assert "spatial only" not in {m for m, r in rows.items() if "differences" in r}
    assert "minus weighted average (grid search)" in out.with_suffix(".md").read_text()


def _run(title: str, method: str, scores: list, head_scores: list | None = None, final_score: str = "probabilities",
         weights: tuple | None = (2.0, 3.0, 4.0)) -> TrainedRun:
    scored = VideoScores(np.array([0, 1]), np.array(scores), ["a", "b"],
                         head_scores=None if head_scores is None else np.array(head_scores))
    return TrainedRun(title, scored, {"method": method, "final_score": final_score, "score_weights": weights})


def test_amplification_rows_are_park_et_al_s_combinations():
    amplified = [[0.6, 0.4], [0.3, 0.7]]
    flow = np.array([[0.5, 0.5], [0.4, 0.6]])
    fusion = _run("M", "mfusion", [[0.0, 1.0], [1.0, 0.0]], head_scores=[[0.2, 0.8], [0.9, 0.1]])
    rows = amplification_rows([_run("A", "amplification", amplified, weights=None), fusion], flow)
    assert set(rows) == {"A: S(amp) + T, l2-normalised softmax", "M with A as S, 2:3:4"}
    np.testing.assert_allclose(rows["M with A as S, 2:3:4"], [[4.2 / 9, 4.8 / 9], [4.3 / 9, 4.7 / 9]])
    norm = np.linalg.norm
    np.testing.assert_allclose(rows["A: S(amp) + T, l2-normalised softmax"][0],
                               (np.array(amplified[0]) / norm(amplified[0]) + flow[0] / norm(flow[0])) / 2)
    # trained with 2:3:4 mixed in, the run's own row is that mix: S(amp) alone becomes a row of its own
    mixed = _run("A", "amplification", [[0.0, 1.0], [0.0, 1.0]], head_scores=amplified)
    np.testing.assert_allclose(amplification_rows([mixed], flow)["A: S(amp) alone"], amplified)
    # scored on logits, the softmax rules cannot be formed
    assert amplification_rows([_run("A", "amplification", amplified, final_score="logits", weights=None)], flow) == {}


def test_evaluate_compares_chosen_pairs_of_runs(runs, feature_store, tiny_dataset):
    folder, _ = runs
    _, manifest = tiny_dataset
    gate, concat = str(folder / "runs" / "gate"), str(folder / "runs" / "gate-layers")
    table = evaluate(manifest, feature_store, [gate, concat],
                     config=EvaluateConfig(compare=((gate, concat),), bootstrap=200))
    first, second = "gated fusion (pooled maps, softmax, lambda=1)", "gated fusion (conv into layers, relu, lambda=0)"
    difference = table.differences[first]["split 1"][second]
    expected = (table.cells[first]["split 1"]["mean_class_accuracy"]
                - table.cells[second]["split 1"]["mean_class_accuracy"])
    assert difference["estimate"] == pytest.approx(expected) and difference["low"] <= expected <= difference["high"]
    labels, correct = table.outcome_arrays("split 1")  # per-video outcomes, for analyses over several runs
    assert len(labels) == len(manifest.select(1, "test")) and set(correct) == set(table.methods)
    recorded = table.cells[first]["split 1"]["mean_class_accuracy"]
    assert mean_class_accuracy_of(correct[first], labels) == pytest.approx(recorded)
    with pytest.raises(FusionError, match="not among --runs"):
        evaluate(manifest, feature_store, [gate], config=EvaluateConfig(compare=((gate, concat),)))


def test_runs_of_one_method_name_get_rows_titled_by_their_folders(runs, feature_store, tiny_dataset, tmp_path):
    folder, _ = runs
    _, manifest = tiny_dataset
    gate = folder / "runs" / "gate"
    other = shutil.copytree(gate, tmp_path / "gate-other-rates")  # as a run whose name leaves its rates out
    table = evaluate(manifest, feature_store, [str(gate), str(other)],
                     config=EvaluateConfig(compare=((str(gate), str(other)),), bootstrap=50))
    method = "gated fusion (pooled maps, softmax, lambda=1)"
    first, second = f"{method} [gate]", f"{method} [gate-other-rates]"
    assert {first, second} <= set(table.methods) and method not in table.methods
    assert table.differences[first]["split 1"][second]["estimate"] == 0
    same_folder = shutil.copytree(gate, tmp_path / "elsewhere" / "gate")
    with pytest.raises(FusionError, match="distinct names"):
        evaluate(manifest, feature_store, [str(gate), str(same_folder)], config=EvaluateConfig(bootstrap=0))


def test_train_gate_prints_the_gate_spatial_share_and_records_its_training_scores(runs, feature_store, capsys):
    folder, manifest_path = runs
    assert GateConfig().train_scores == "dropout"  # chosen by bench/fusion_quality.py on its choice seeds
    assert main(["train-gate", str(manifest_path), "--features", str(feature_store),
                 *QUICK, "--run", str(folder / "runs" / "gate-share"), "--train-scores", "dropout"]) == 0
    printed = capsys.readouterr().out
    assert "gate spatial share over test videos" in printed and "+-" in printed
    config = json.loads((folder / "runs" / "gate-share" / "split1" / "config.json").read_text())
    assert config["method"] == "gated fusion (pooled maps, softmax, lambda=1, dropout scores)"


def test_the_gate_trains_on_the_validation_videos_too_only_when_it_keeps_its_last_epoch(feature_store, tiny_dataset,
                                                                                          tmp_path):
    _, manifest = tiny_dataset
    quick = TrainConfig(batch_size=4, max_epochs_per_phase=1, selection="last")
    carved = split_sources(open_feature_store(feature_store), manifest, "1", ["rgb_logits"])
    assert GateConfig().trains_on_validation and not GateConfig(training=TrainConfig()).trains_on_validation
    for train_on, videos in (("auto", len(carved.train) + len(carved.val)), ("train", len(carved.train))):
        fit = train_gate(manifest, feature_store, tmp_path / train_on,
                         config=GateConfig(training=quick, train_on=train_on, train_scores="clean", preload=True))["1"]
        config = json.loads((tmp_path / train_on / "split1" / "config.json").read_text())
        assert config["train_videos"] == videos and config["val_videos"] == len(carved.val)
        assert fit.best_epoch == len(fit.history) - 1
    assert videos < len(manifest.select("1", "train")) == config["train_videos"] + len(carved.val)
    assert config["train_on"] == "train" and config["method"].endswith("lambda=1, validation held out)")
    with pytest.raises(FusionError, match="--select last"):
        GateConfig(train_on="train+val", training=TrainConfig(selection="accuracy"))
    with pytest.raises(FusionError, match="train on 'everything'"):
        GateConfig(train_on="everything")


def test_a_missing_split_and_a_foreign_checkpoint_are_refused(tiny_dataset, feature_store, tmp_path):
    _, manifest = tiny_dataset
    with pytest.raises(FusionError, match="split 7 is not in the manifest"):
        evaluate(manifest, feature_store, [], config=EvaluateConfig(split="7"))
    with pytest.raises(FusionError, match="no predictions.json"):
        evaluate(manifest, feature_store, [tmp_path], config=EvaluateConfig(split="1"))
    other = tmp_path / "other.pt"
    from twostream.pipeline.backbones import build_backbone, save_checkpoint
    save_checkpoint(other, build_backbone("tiny", "rgb", len(manifest.classes)))
    with pytest.raises(FusionError, match="not the spatial checkpoint"):
        train_gate(manifest, feature_store, tmp_path / "runs" / "x",
                   config=GateConfig(checkpoint=str(other), body="layers", fusion="conv",
                                     training=TrainConfig(max_epochs_per_phase=1)))


def test_report_of_the_runs_shows_examples_with_frames_and_provenance(runs, reference_store, feature_store):
    folder, manifest_path = runs
    out = folder / "report"
    run_folders = [str(folder / "runs" / name) for name in ("gate", "gate-layers", "mfuse")]
    assert main(["report", "--runs", *run_folders, "--out", str(out), "--manifest", str(manifest_path),
                 "--frames", str(reference_store), "--features", str(feature_store)]) == 0
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4
    assert "checkpoint_sha256" in html and "frames store" in html
    assert (out / "results.md").is_file()


def test_train_gate_and_train_mfuse_on_out_of_fold_scores(oof_feature_store, tiny_dataset, tmp_path):
    _, manifest = tiny_dataset
    manifest_path = manifest.save(tmp_path / "manifest.json")
    common = [str(manifest_path), "--features", str(oof_feature_store), *QUICK,
              "--train-scores", "out-of-fold"]
    assert main(["train-gate", *common, "--run", str(tmp_path / "runs" / "gate")]) == 0
    assert main(["train-mfuse", *common, *QUICK_STEPS, "--run", str(tmp_path / "runs" / "mfuse"), "--width", "16", "--preload"]) == 0
    gate = json.loads((tmp_path / "runs" / "gate" / "split1" / "config.json").read_text())
    assert gate["method"] == "gated fusion (pooled maps, softmax, lambda=1, out-of-fold scores)"
    assert gate["task"]["train_scores"] == {"mode": "out-of-fold", "split": "1", "k": 2, "seed": 0}
    mfuse = json.loads((tmp_path / "runs" / "mfuse" / "split1" / "config.json").read_text())
    assert mfuse["method"] == "mfusion on maps (2:3:4, out-of-fold scores)"
    assert mfuse["train_scores"]["mode"] == "out-of-fold"
    predictions = json.loads((tmp_path / "runs" / "mfuse" / "split1" / "predictions.json").read_text())
    assert {r["video_id"] for r in predictions["test"]} == {v.video_id for v in manifest.select(1, "test")}


def test_out_of_fold_scores_need_a_store_with_fold_arrays_and_mfuse_refuses_dropout(feature_store, tiny_dataset,
                                                                                      tmp_path, capsys):
    _, manifest = tiny_dataset
    manifest_path = manifest.save(tmp_path / "manifest.json")
    common = [str(manifest_path), "--features", str(feature_store), *QUICK,
              "--train-scores", "out-of-fold"]
    for command in ("train-gate", "train-mfuse"):
        assert main([command, *common, "--run", str(tmp_path / "runs" / command)]) == 2
        assert "holds no out-of-fold arrays; extract features with --fold-checkpoints DIR" in capsys.readouterr().err
    with pytest.raises(FusionError, match="m-fusion's loss reads no stream scores"):
        HeadConfig(train_scores="dropout")


def test_a_tap_for_what_the_head_does_not_read_is_refused():
    with pytest.raises(FusionError, match="--vector-tap fc6 names the vectors --fuse vectors fuses"):
        HeadConfig(vec_tap="fc6")
    with pytest.raises(FusionError, match="--map-tap conv5 names maps, but --fuse vectors fuses vectors"):
        HeadConfig(on="vectors", tap="conv5")
    assert HeadConfig(head="amplification", on="vectors", tap="conv5").tap == "conv5"


def test_the_gate_body_batch_norm_stays_frozen_unless_asked_to_train(runs, checkpoints, feature_store):
    folder, manifest_path = runs
    assert main(["train-gate", str(manifest_path), "--features", str(feature_store),
                 *QUICK, "--run", str(folder / "runs" / "gate-bn"), *PAPER_GATE_FLAGS, "--multitask-weight", "0", "--train-bn"]) == 0
    spatial = load_checkpoint(checkpoints["rgb"]).state_dict
    for name, frozen in (("gate-layers", True), ("gate-bn", False)):
        run = folder / "runs" / name / "split1"
        state = torch.load(run / "checkpoint.pt", weights_only=True)["model_state"]
        same = [torch.equal(state[f"body.conv4.bn.{key}"], spatial[f"conv4.bn.{key}"])
                for key in ("running_mean", "running_var", "weight", "bias")]
        assert same == [frozen] * 4, name  # the tap is conv3: conv4's unit is the body
        config = json.loads((run / "config.json").read_text())
        assert config["task"]["body_batch_norm"] == ("frozen" if frozen else "trained")
        scores = ", dropout scores" if name == "gate-bn" else ""  # gate-layers trained on clean ones
        assert config["method"] == f"gated fusion (conv into layers, relu, lambda=0{'' if frozen else ', trained BN'}{scores})"
        assert config["gate_init"] == "spatial"
        assert config["weight_decay_on"].startswith("weights only")


@pytest.mark.parametrize("backbone, tap, width", [("tiny", "conv4", 2 * 32), ("efficientnet_lite0", "head", 2 * 1280)])
def test_concat_fusion_at_the_last_map_tap_trains_the_heads_on_both_pooled_maps(backbone, tap, width,
                                                                                 last_tap_stores, tiny_dataset,
                                                                                 tmp_path):
    _, manifest = tiny_dataset
    assert main(["train-gate", str(manifest.save(tmp_path / "manifest.json")), "--features",
                 str(last_tap_stores[backbone]), *QUICK, "--run", str(tmp_path / "runs" / "last"),
                 "--body", "layers", "--fusion", "concat", "--activation", "relu", "--map-tap", tap, "--accumulate", "2"]) == 0
    run = tmp_path / "runs" / "last" / "split1"
    config = json.loads((run / "config.json").read_text())
    assert config["task"]["body_channels"] == width
    assert config["method"] == f"gated fusion (concat into layers at {tap}, relu, lambda=1, dropout scores)"
    assert config["train"]["accumulate"] == 2 and config["train"]["batch_size"] == 4
    state = torch.load(run / "checkpoint.pt", weights_only=True)["model_state"]
    assert state["gate.weight"].shape == (2, width) and state["classifier.weight"].shape[1] == width
    assert not any(name.startswith("body.") for name in state), "the body is pooling alone"


def test_the_gate_body_starts_from_imagenet_weights_where_they_install_offline(last_tap_stores, tiny_dataset):
    _, manifest = tiny_dataset
    store = open_feature_store(last_tap_stores["efficientnet_lite0"])
    sources = split_sources(store, manifest, "1", ["rgb_map", "flow_map"])
    imagenet = build_backbone("efficientnet_lite0", "rgb", 1000, pretrained=True).state_dict()
    spatial = load_checkpoint(store.attrs["checkpoints"]["rgb"]).state_dict
    for init, expected in (("imagenet", imagenet), ("spatial", spatial)):
        body = build_gate(store, sources, GateConfig(gate_init=init, body="layers", fusion="conv")).body.state_dict()
        assert body and all(torch.equal(value, expected[name]) for name, value in body.items()), init
    tiny = open_feature_store(last_tap_stores["tiny"])
    with pytest.raises(FusionError, match="no ImageNet weights for the tiny backbone .* use --gate-init spatial"):
        build_gate(tiny, split_sources(tiny, manifest, "1", ["rgb_map", "flow_map"]),
                   GateConfig(gate_init="imagenet", body="layers", fusion="conv"))
    with pytest.raises(FusionError, match="gate init 'coco'"):
        GateConfig(gate_init="coco")
    with pytest.raises(FusionError, match="the pooled gate body has no pretrained layers"):
        GateConfig(gate_init="imagenet")
    with pytest.raises(FusionError, match="the pooled gate body reads the two streams' maps side by side"):
        GateConfig(fusion="conv")


def test_heads_that_cannot_improve_are_flagged_on_the_console_in_their_runs_and_in_the_table(
        runs, feature_store, tiny_dataset, caplog, capsys):
    folder, manifest_path = runs
    _, manifest = tiny_dataset
    common = [str(manifest_path), "--features", str(feature_store), *QUICK]
    with caplog.at_level(logging.WARNING, logger="twostream"):
        # selection on validation accuracy, as gated TSN (the default keeps the last epoch, never the first)
        assert main(["train-gate", *common, "--run", str(folder / "runs" / "gate-stuck"), "--multitask-weight", "0.5",
                     "--lrs", *TOO_SMALL, "--select", "accuracy"]) == 0
        assert main(["train-mfuse", *common, *QUICK_STEPS, "--run", str(folder / "runs" / "mfuse-stuck"), "--width", "16",
                     "--lrs", *TOO_SMALL, TOO_SMALL[0]]) == 0
    stuck = {name: folder / "runs" / name / "split1" for name in ("gate-stuck", "mfuse-stuck")}
    recorded = {name: json.loads((path / "config.json").read_text())["learning"] for name, path in stuck.items()}
    assert all(KEPT_FIRST_EPOCH in {finding["name"] for finding in found} for found in recorded.values())
    warned = [r.getMessage() for r in caplog.records
              if r.levelno == logging.WARNING and r.name == "twostream.fusion.training.learning"]
    expected = [f"{stuck[name]}: {finding['message']}" for name in stuck for finding in recorded[name]]
    assert warned == expected
    console = capsys.readouterr().err  # the console's log lines
    assert all(line in console for line in expected)
    assert "kept its first epoch's weights" in console

    table = evaluate(manifest, feature_store, [str(path.parent) for path in stuck.values()],
                     config=EvaluateConfig(bootstrap=0))
    gate = "gated fusion (pooled maps, softmax, lambda=0.5, validation held out, dropout scores)"
    mfuse = "mfusion on maps (2:3:4)"
    assert table.flagged == [gate, mfuse]
    assert [finding["name"] for finding in table.findings[mfuse]["split 1"]] == [
        finding["name"] for finding in recorded["mfuse-stuck"]]
    out = folder / "stuck-results.json"
    table.write(out)
    assert ResultsTable.from_dict(json.loads(out.read_text())).findings == table.findings
    markdown = out.with_suffix(".md").read_text()
    assert f"| {gate} (did not learn, note 1) |" in markdown and f"| {mfuse} (did not learn, note 2) |" in markdown
    assert f"[2] {mfuse}, split 1: the head kept its first epoch's weights" in markdown


def test_evaluate_copies_what_each_run_recorded_and_reads_runs_from_before_the_check(runs, feature_store, tiny_dataset,
                                                                                    tmp_path):
    folder, _ = runs
    _, manifest = tiny_dataset
    names = ("gate", "mfuse", "base-a")
    table = evaluate(manifest, feature_store, [str(folder / "runs" / name) for name in names],
                     config=EvaluateConfig(bootstrap=0))
    for name in names:  # a head that learned records [] and gets no row mark (see tests/fusion/training)
        config = json.loads((folder / "runs" / name / "split1" / "config.json").read_text())
        assert table.findings.get(config["method"], {}).get("split 1", []) == config["learning"]
    assert not set(table.findings) & {"spatial only", "weighted average (grid search)", ORACLE}
    older = tmp_path / "older" / "split1"
    shutil.copytree(folder / "runs" / "gate" / "split1", older)
    config = json.loads((older / "config.json").read_text())
    del config["learning"]
    (older / "config.json").write_text(json.dumps(config))
    assert evaluate(manifest, feature_store, [str(older.parent)], config=EvaluateConfig(bootstrap=0)).findings == {}


def test_a_validation_set_too_small_to_tell_epochs_apart_trains_every_epoch_and_keeps_the_lowest_loss(
        feature_store, tiny_dataset, tmp_path, caplog):
    _, manifest = tiny_dataset
    config = GateConfig(training=TrainConfig(batch_size=4, patience=1, max_epochs_per_phase=3), preload=True)
    with caplog.at_level(logging.WARNING, logger="twostream"):
        fit = train_gate(manifest, feature_store, tmp_path / "runs" / "small", config=config)["1"]
    assert any("too small to tell epochs apart" in r.getMessage() for r in caplog.records)
    assert len(fit.history) == 2 * 3  # both phases ran all their epochs: no early stopping on noise
    assert [record["lr"] for record in fit.history[:3]] == [1e-3, 1e-3, 1e-4]  # the rates still step
    losses = [record["val_loss"] for record in fit.history]
    assert fit.history[fit.best_epoch]["val_loss"] == min(losses)
    assert json.loads((tmp_path / "runs" / "small" / "split1" / "config.json").read_text())["train"]["selection"] == "loss"


def _moved_store(store: Path, folder: Path, checkpoints: dict[str, Path]) -> Path:
    """A copy of `store` in `folder` recording its checkpoints where they are not: as recorded on the machine that
    extracted them, absolute paths that do not exist here."""
    import zarr

    shutil.copytree(store, folder / "features.zarr")
    group = zarr.open_group(folder / "features.zarr", mode="r+")
    recorded = dict(group.attrs["twostream"])
    recorded["checkpoints"] = {stream: f"/elsewhere/project/streams/{path.name}" for stream, path in checkpoints.items()}
    group.attrs["twostream"] = recorded
    return folder / "features.zarr"


def test_a_store_copied_without_its_checkpoints_trains_and_evaluates_as_in_place(tiny_dataset, feature_store,
                                                                                  checkpoints, tmp_path):
    _, manifest = tiny_dataset
    moved = _moved_store(feature_store, tmp_path / "elsewhere", checkpoints)
    # the layers body copies the spatial net's layers; dropout scores run both streams' classifiers
    training = TrainConfig(max_epochs_per_phase=2, batch_size=4)
    common = {"body": "layers", "fusion": "conv", "train_scores": "dropout", "training": training}
    train_gate(manifest, feature_store, tmp_path / "runs" / "files",
               config=GateConfig(checkpoint=str(checkpoints["rgb"]), flow_checkpoint=str(checkpoints["flow"]),
                                 **common))
    train_gate(manifest, moved, tmp_path / "runs" / "kept", config=GateConfig(**common))
    in_place, elsewhere = ((tmp_path / "runs" / name / "split1" / "predictions.json").read_text()
                           for name in ("files", "kept"))
    assert json.loads(in_place) == json.loads(elsewhere)
    tables = [evaluate(manifest, store, [tmp_path / "runs" / name], config=EvaluateConfig(split="1")).to_markdown()
              for store, name in ((feature_store, "files"), (moved, "kept"))]
    assert tables[0] == tables[1] and "gated fusion" in tables[0]


def test_a_store_that_keeps_no_networks_finds_its_checkpoints_below_its_new_folder(tiny_dataset, feature_store,
                                                                                   checkpoints, tmp_path):
    _, manifest = tiny_dataset
    moved = tmp_path / "project"
    _moved_store(feature_store, moved, checkpoints)
    shutil.rmtree(moved / "features.zarr" / "networks")  # as a store of an earlier version
    for stream, path in checkpoints.items():
        (moved / "streams").mkdir(exist_ok=True)
        shutil.copy(path, moved / "streams" / path.name)
    config = GateConfig(body="layers", fusion="conv", training=TrainConfig(max_epochs_per_phase=1))
    train_gate(manifest, moved / "features.zarr", tmp_path / "runs" / "moved", config=config)
    (moved / "streams" / checkpoints["rgb"].name).unlink()
    with pytest.raises(FusionError, match=r"/elsewhere/project/streams/rgb.pt \(also looked for it below "):
        train_gate(manifest, moved / "features.zarr", tmp_path / "runs" / "moved-again", config=config)
