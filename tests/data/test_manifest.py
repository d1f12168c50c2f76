import json

import pytest

from twostream.data.errors import ManifestError
from twostream.data.manifest import Manifest, VideoEntry, load_manifest


def _manifest() -> Manifest:
    videos = [VideoEntry("a", "X/a.avi", 0, "X", {"1": "train"}, 1), VideoEntry("b", "Y/b.avi", 1, "Y", {"1": "test"}, 2)]
    return Manifest("ucf101", "/data", ["X", "Y"], videos)


def test_manifest_round_trips_through_json(tmp_path):
    path = _manifest().save(tmp_path / "m.json")
    loaded = load_manifest(path)
    assert loaded == _manifest()
    assert [v.video_id for v in loaded.select(1, "test")] == ["b"]
    assert str(loaded.video_path(loaded.videos[0])) == "/data/X/a.avi"
    assert not list(tmp_path.glob(".*tmp"))


def test_duplicate_video_ids_are_refused():
    video = VideoEntry("a", "X/a.avi", 0, "X")
    with pytest.raises(ManifestError, match="appears twice"):
        Manifest("x", "/", ["X"], [video, video])


def test_unknown_split_is_named():
    with pytest.raises(ManifestError, match="split 4 is not in this ucf101 manifest"):
        _manifest().select(4, "train")


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    (json.dumps({"schema": 99}), "schema 99"),
    (json.dumps({"schema": 1, "dataset": "x"}), "lacks a field"),
])
def test_bad_manifest_files_get_clear_errors(tmp_path, content, message):
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(ManifestError, match=message):
        load_manifest(path)
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "absent.json")
