from twostream.cli.main import main
from twostream.pipeline.backbones import load_checkpoint


def test_train_streams_writes_a_checkpoint_and_prints_validation_accuracy(streams_data, tmp_path, capsys):
    _, manifest_path, store = streams_data
    args = ["train-streams", str(manifest_path), "--frames", str(store), "--out", str(tmp_path),
            "--backbone", "tiny", "--no-pretrained", "--streams", "rgb", "--epochs", "1",
            "--input-size", "32", "--batch-size", "6"]
    assert main(args) == 0
    first = capsys.readouterr()
    assert "rgb epoch 1/1" in first.err
    assert "rgb: validation accuracy" in first.out
    assert load_checkpoint(tmp_path / "rgb.pt").class_names is not None
    assert (tmp_path / "rgb.metrics.jsonl").read_text().count("\n") == 1
    assert main(args) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == first.out.splitlines()[0]


def test_train_streams_folds_prints_a_line_per_fold_and_refuses_too_many(streams_data, tmp_path, capsys):
    _, manifest_path, store = streams_data
    args = ["train-streams", str(manifest_path), "--frames", str(store), "--out", str(tmp_path),
            "--backbone", "tiny", "--no-pretrained", "--streams", "flow", "--epochs", "1",
            "--input-size", "32", "--batch-size", "6", "--folds"]
    assert main(args + ["40"]) == 2
    assert "too few for 40 folds of whole groups; pass --folds" in capsys.readouterr().err
    assert not (tmp_path / "flow.pt").exists()
    assert main(args + ["2"]) == 0
    printed = capsys.readouterr()
    assert "fold 2 flow epoch 1/1" in printed.err
    lines = printed.out.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("fold")] == ["fold 1", "fold 2"]
    assert str(tmp_path / "fold2") in lines[-1]
