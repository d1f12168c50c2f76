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
