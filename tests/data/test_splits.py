from pathlib import Path

import pytest

from twostream.data.errors import SplitFileError, TwostreamError
from twostream.data.splits import index_folder_tree, index_hmdb51, index_ucf101, read_class_index


def test_ucf101_official_splits_have_the_published_counts(shared_data):
    manifest = index_ucf101(shared_data / "ucf101_splits")
    assert len(manifest.classes) == 101
    assert len(manifest) == 13320
    counts = {s: (len(manifest.select(s, "train")), len(manifest.select(s, "test"))) for s in (1, 2, 3)}
    assert counts == {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}
    first = manifest.videos[0]
    assert first.video_id == "v_ApplyEyeMakeup_g08_c01" and first.label == 0 and first.group == 8
    # Test lists carry no labels: labels come from the class folder.
    assert {v.label for v in manifest.select(1, "test")} == set(range(101))


def test_ucf101_split_files_are_crlf_and_still_parse_cleanly(shared_data):
    raw = (shared_data / "ucf101_splits" / "classInd.txt").read_bytes()
    assert b"\r\n" in raw
    classes = read_class_index(shared_data / "ucf101_splits" / "classInd.txt")
    assert classes[0] == "ApplyEyeMakeup" and classes[-1] == "YoYo"
    assert all("\r" not in name for name in classes)


def test_hmdb51_official_splits_have_the_published_counts(shared_data):
    manifest = index_hmdb51(shared_data / "hmdb51_splits")
    assert len(manifest.classes) == 51
    for split in (1, 2, 3):
        assert len(manifest.select(split, "train")) == 3570
        assert len(manifest.select(split, "test")) == 1530
        assert len(manifest.select(split, "unused")) == 1666


def _ucf_dir(tmp_path: Path, train: str, test: str = "", classes: str = "1 Alpha\r\n2 Beta\r\n") -> Path:
    (tmp_path / "classInd.txt").write_text(classes, newline="")
    (tmp_path / "trainlist01.txt").write_text(train, newline="")
    (tmp_path / "testlist01.txt").write_text(test, newline="")
    return tmp_path


def test_malformed_line_names_file_and_line(tmp_path):
    folder = _ucf_dir(tmp_path, "Alpha/v_Alpha_g01_c01.avi 1\r\nAlpha/v_Alpha_g01_c02.avi one two\r\n")
    with pytest.raises(SplitFileError) as caught:
        index_ucf101(folder)
    assert caught.value.line == 2 and "trainlist01.txt:2" in str(caught.value)


def test_class_missing_from_the_class_index_is_named(tmp_path):
    folder = _ucf_dir(tmp_path, "Alpha/v_Alpha_g01_c01.avi 1\r\n", "Gamma/v_Gamma_g01_c01.avi\r\n")
    with pytest.raises(SplitFileError, match=r"testlist01.txt:1: class 'Gamma' is not in classInd.txt"):
        index_ucf101(folder)


def test_label_disagreeing_with_the_class_index_is_refused(tmp_path):
    folder = _ucf_dir(tmp_path, "Alpha/v_Alpha_g01_c01.avi 2\r\n")
    with pytest.raises(SplitFileError, match="disagrees with classInd"):
        index_ucf101(folder)


def test_wrong_file_as_class_index_is_refused(tmp_path):
    folder = _ucf_dir(tmp_path, "Alpha/v_Alpha_g01_c01.avi 1\r\n", classes="Alpha/v_Alpha_g01_c01.avi\r\n")
    with pytest.raises(SplitFileError, match=r"classInd.txt:1: expected '<id> <ClassName>'"):
        index_ucf101(folder)


def test_missing_videos_fail_or_are_counted_with_allow_missing(tmp_path, caplog):
    splits = _ucf_dir(tmp_path / "s" if (tmp_path / "s").mkdir() is None else tmp_path,
                      "Alpha/v_Alpha_g01_c01.avi 1\r\nBeta/v_Beta_g02_c01.avi 2\r\n", "Beta/v_Beta_g01_c01.avi\r\n")
    videos = tmp_path / "videos"
    (videos / "Alpha").mkdir(parents=True)
    (videos / "Alpha" / "v_Alpha_g01_c01.avi").write_bytes(b"x")
    with pytest.raises(SplitFileError, match=r"2 listed videos are missing.*--allow-missing"):
        index_ucf101(splits, videos)
    manifest = index_ucf101(splits, videos, allow_missing=True)
    assert [v.video_id for v in manifest] == ["v_Alpha_g01_c01"]
    assert "2 videos listed in the split files are missing" in caplog.text


def test_folder_tree_is_indexed_with_a_stable_split(tmp_path):
    for cls in ("jump", "run"):
        (tmp_path / cls).mkdir()
        for i in range(10):
            (tmp_path / cls / f"{cls}_{i}.mp4").write_bytes(b"x")
    (tmp_path / "run" / "notes.txt").write_text("not a video")
    first = index_folder_tree(tmp_path, test_fraction=0.3)
    again = index_folder_tree(tmp_path, test_fraction=0.3)
    assert first.classes == ["jump", "run"] and len(first) == 20
    assert [v.splits for v in first] == [v.splits for v in again]
    assert 0 < len(first.select(1, "test")) < 20
    with pytest.raises(TwostreamError, match="does not exist"):
        index_folder_tree(tmp_path / "nowhere")
