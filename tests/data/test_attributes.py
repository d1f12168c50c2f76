"""Per-video attributes: from a CSV file and from the synthetic generator's metadata.json, kept in the manifest."""
from __future__ import annotations

import json

import pytest

from twostream.data.attributes import (
    attribute_values,
    gather_attributes,
    read_attributes_csv,
    read_synthetic_attributes,
    with_attributes,
)
from twostream.data.errors import AttributesError
from twostream.data.manifest import load_manifest
from twostream.data.splits import index_dataset
from twostream.data.synthetic import PRESETS, plan_videos


def _csv(tmp_path, text: str, name: str = "attributes.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_attributes_by_video_id(tmp_path):
    path = _csv(tmp_path, "\ufeffscene, video_id ,light\nindoor,a,dark\noutdoor, b ,\n\n")
    assert read_attributes_csv(path) == {"a": {"scene": "indoor", "light": "dark"}, "b": {"scene": "outdoor"}}
    assert read_attributes_csv(path, columns=["light"], known_ids=["a", "b", "c"]) == {"a": {"light": "dark"},
                                                                                     "b": {}}


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("id,scene\na,x\n", "has no column 'video_id' \\(its columns: id, scene\\)"),
    ("video_id\na\n", "has only the video_id column"),
    ("video_id,scene,scene\na,x,y\n", "column 'scene' appears twice"),
    ("video_id,scene\na,x\nb,y\na,z\n", ":4: video 'a' is listed twice \\(first at line 2\\)"),
    ("video_id,scene\na,x,extra\n", ":2: 3 fields, the header has 2"),
    ("video_id,scene\n,x\n", ":2: the video_id cell is empty"),
])
def test_bad_csv_files_are_named_with_the_problem(tmp_path, text, message):
    path = _csv(tmp_path, text)
    with pytest.raises(AttributesError, match=message) as raised:
        read_attributes_csv(path)
    assert str(path) in str(raised.value)


def test_csv_refuses_missing_columns_unknown_videos_and_absent_files(tmp_path):
    path = _csv(tmp_path, "video_id,scene\na,x\nzzz,y\n")
    with pytest.raises(AttributesError, match="has no column 'light'"):
        read_attributes_csv(path, columns=["light"])
    with pytest.raises(AttributesError, match=f"{path} names 1 videos that are not in the manifest, e.g. 'zzz'"):
        read_attributes_csv(path, known_ids=["a", "b"])
    with pytest.raises(AttributesError, match="does not exist"):
        read_attributes_csv(tmp_path / "absent.csv")


def test_synthetic_metadata_gives_each_videos_degradation(tiny_dataset):
    root, manifest = tiny_dataset
    found = read_synthetic_attributes(root / "metadata.json")
    specs = plan_videos(PRESETS["tiny"])
    assert set(found) == {video.video_id for video in manifest}
    for spec in specs:
        assert found[spec.video_id] == {"degraded_cue": spec.degraded_cue or "none",
                                        "degradation": spec.degradation or "none"}
    assert "none" in {values["degraded_cue"] for values in found.values()}


def test_index_picks_up_synthetic_attributes_and_a_csv_over_them(tiny_dataset, tmp_path):
    root, plain = tiny_dataset
    first = plain.videos[0].video_id
    csv_path = _csv(tmp_path, f"video_id,degradation,light\n{first},relabelled,dark\n")
    manifest = index_dataset("ucf101", root / "videos", splits=root / "splits", attributes=csv_path)
    synthetic = read_synthetic_attributes(root / "metadata.json")
    assert manifest.videos[0].attributes == {**synthetic[first], "degradation": "relabelled", "light": "dark"}
    assert all(video.attributes == synthetic[video.video_id] for video in manifest.videos[1:])
    loaded = load_manifest(manifest.save(tmp_path / "manifest.json"))
    assert loaded == manifest
    assert attribute_values(gather_attributes(loaded), "light") == {first: "dark"}


def test_manifests_without_attributes_keep_their_layout(tiny_dataset, tmp_path):
    _, plain = tiny_dataset
    path = plain.save(tmp_path / "plain.json")
    assert all("attributes" not in video for video in json.loads(path.read_text())["videos"])
    assert load_manifest(path).videos[0].attributes == {}
    assert gather_attributes(plain) == {}
    with pytest.raises(AttributesError, match="no video has the attribute 'degraded_cue' \\(attributes present: "
                                              "none\\)"):
        attribute_values(gather_attributes(plain), "degraded_cue")


def test_a_csv_given_to_a_command_overrides_the_manifest(tiny_dataset, tmp_path):
    _, plain = tiny_dataset
    first, second = (video.video_id for video in plain.videos[:2])
    manifest = with_attributes(plain, {first: {"scene": "indoor", "light": "dark"}})
    csv_path = _csv(tmp_path, f"video_id,scene\n{first},outdoor\n{second},indoor\n")
    assert gather_attributes(manifest, csv_path) == {first: {"scene": "outdoor", "light": "dark"},
                                                     second: {"scene": "indoor"}}
    assert gather_attributes(None, csv_path) == {first: {"scene": "outdoor"}, second: {"scene": "indoor"}}
    with pytest.raises(AttributesError, match="not in the manifest, e.g. 'ghost'"):
        with_attributes(plain, {"ghost": {"scene": "x"}})
