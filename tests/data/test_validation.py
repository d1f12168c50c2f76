import logging
from collections import Counter

import pytest

from twostream.data.manifest import Manifest, VideoEntry
from twostream.data.splits import index_hmdb51, index_ucf101
from twostream.data.validation import (
    MIN_VALIDATION_VIDEOS,
    ValidationSplitError,
    carve,
    carve_validation,
    validation_power,
)


def _units(videos):
    return {(v.label, v.group) for v in videos}


@pytest.mark.parametrize("split", [1, 2, 3])
def test_ucf101_carve_never_puts_a_class_group_on_both_sides(shared_data, split):
    manifest = index_ucf101(shared_data / "ucf101_splits")
    carved = carve(manifest, split)
    train, val = carved.train, carved.validation
    assert _units(train).isdisjoint(_units(val)) and val and not carved.fallbacks
    assert len(train) + len(val) == len(manifest.select(split, "train"))
    assert {v.video_id for v in train}.isdisjoint(v.video_id for v in val)
    share = Counter(v.label for v in val)
    total = Counter(v.label for v in train + val)
    assert set(share) == set(total) == set(range(101))
    assert all(0.1 <= share[c] / total[c] <= 0.35 for c in total)
    assert 0.15 <= len(val) / (len(train) + len(val)) <= 0.3
    # Group numbers are ordered by the seed alone, so classes sharing them mostly hold out the same ones.
    held_out = Counter(frozenset(v.group for v in val if v.label == c) for c in total)
    assert held_out.most_common(1)[0][1] > 101 / 2
    assert validation_power(val, manifest.classes).sufficient


def test_carve_is_deterministic_and_depends_on_the_seed(shared_data):
    manifest = index_ucf101(shared_data / "ucf101_splits")
    first = carve_validation(manifest, 1, seed=0)
    assert carve_validation(manifest, 1, seed=0) == first
    held_out = {frozenset(v.group for v in carve_validation(manifest, 1, seed=seed)[1]) for seed in range(5)}
    assert len(held_out) > 1


def test_videos_without_groups_are_carved_per_class(shared_data):
    manifest = index_hmdb51(shared_data / "hmdb51_splits")
    train, val = carve_validation(manifest, 1, fraction=0.2)
    share = Counter(v.label for v in val)
    total = Counter(v.label for v in train + val)
    assert all(abs(share[c] / total[c] - 0.2) < 0.05 for c in total)
    assert {v.video_id for v in train}.isdisjoint(v.video_id for v in val)


def _manifest(groups_by_class: dict[str, list[int | None]]) -> Manifest:
    """One training video per listed group number (None: no group) of each class; classes interleaved."""
    classes = list(groups_by_class)
    rows = sorted(((index, name, group) for name, groups in groups_by_class.items()
                   for index, group in enumerate(groups)), key=lambda row: (row[0], row[1]))
    videos = [VideoEntry(f"{name}_{index}", f"{name}/{index}.avi", classes.index(name), name, {"1": "train"}, group)
              for index, name, group in rows]
    return Manifest("test", "", classes, videos)


# Six classes with 2 to 4 groups each, numbered per class (as a folder dataset numbers them): group 3 of
# one class has nothing to do with group 3 of another, and the groups differ in size.
UNALIGNED = {
    "clap": [1] * 4 + [2] * 3,
    "jump": [1] * 3 + [2] * 5 + [3] * 4,
    "run": [1] * 2 + [2] * 4 + [3] * 3 + [4] * 5,
    "sit": [2] * 5 + [3] * 4,
    "wave": [1] * 3 + [3] * 2 + [4] * 4,
    "walk": [3] * 4 + [4] * 3 + [5] * 3 + [6] * 2,
}


@pytest.mark.parametrize("seed", range(4))
def test_classes_with_unaligned_groups_all_keep_validation_and_training_videos(seed):
    manifest = _manifest(UNALIGNED)
    carved = carve(manifest, 1, fraction=0.2, seed=seed)
    train, val = carved.train, carved.validation
    assert not carved.fallbacks
    assert {v.class_name for v in val} == {v.class_name for v in train} == set(UNALIGNED)
    assert _units(train).isdisjoint(_units(val))  # a (class, group) unit is never split
    for name, groups in UNALIGNED.items():
        held = [v for v in val if v.class_name == name]
        assert len(held) <= len(groups) / 2, (name, [v.group for v in held])  # the smallest fitting group
    order = [v.video_id for v in manifest.videos]
    for part in (train, val):
        assert [v.video_id for v in part] == [i for i in order if i in {v.video_id for v in part}]
    assert len(train) + len(val) == len(manifest)


def test_the_unaligned_carve_is_deterministic_and_depends_on_the_seed():
    manifest = _manifest(UNALIGNED)
    assert carve(manifest, 1, seed=5) == carve(manifest, 1, seed=5)
    assert len({tuple(v.video_id for v in carve(manifest, 1, seed=seed).validation) for seed in range(6)}) > 1


def test_mixed_grouped_and_loose_videos_keep_groups_whole():
    manifest = _manifest({"a": [1, 2, 3, 4, None, None, None], "b": [1, 2, 3, 4, None, None, None]})
    train, val = carve_validation(manifest, 1, fraction=0.3)
    assert _units(train).isdisjoint(_units(val) - {(0, None), (1, None)})
    assert {v.label for v in val} == {v.label for v in train} == {0, 1}


def test_a_class_in_a_single_group_gives_single_videos_and_says_so(caplog):
    manifest = _manifest({"solo": [5] * 6, "many": [1, 1, 2, 2, 3, 3]})
    with caplog.at_level(logging.WARNING, logger="twostream.data.validation"):
        train, val = carve_validation(manifest, 1, fraction=0.2)
    assert [v.video_id for v in val if v.class_name == "solo"] and [v for v in train if v.class_name == "solo"]
    assert sum(v.class_name == "solo" for v in val) == 1  # round(0.2 * 6)
    assert "class solo" in caplog.text and "all 6 of its training videos are in group 5" in caplog.text
    carved = carve(manifest, 1, fraction=0.2)
    assert list(carved.fallbacks) == ["solo"] and "optimistic" in carved.fallbacks["solo"]


def test_a_single_group_of_two_videos_still_keeps_one_for_training():
    carved = carve(_manifest({"a": [7, 7], "b": [7, 7]}), 1, fraction=0.9)
    assert len(carved.train) == len(carved.validation) == 2 and set(carved.fallbacks) == {"a", "b"}


def test_a_class_with_one_training_video_is_refused_by_name():
    with pytest.raises(ValidationSplitError, match=r"class 'lonely' has a single training video.*lonely_0.*add videos"):
        carve(_manifest({"many": [1, 2, 3], "lonely": [4]}), 1)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_fraction_outside_zero_one_is_refused(fraction):
    with pytest.raises(ValidationSplitError, match="strictly between 0 and 1"):
        carve_validation(_manifest({"a": [1, 2, 3]}), 1, fraction=fraction)


def test_sixteen_videos_of_six_classes_cannot_tell_epochs_apart():
    manifest = _manifest(UNALIGNED)
    power = validation_power(manifest.videos[:16], manifest.classes)
    assert power.videos == 16 and not power.sufficient
    assert any(f"fewer than {MIN_VALIDATION_VIDEOS}" in problem for problem in power.problems())


def test_validation_power_names_missing_classes_and_the_per_class_floor():
    manifest = _manifest({name: [1] * 40 for name in "abcdefghijklmnopqrst"})  # 20 classes
    missing_one = [v for v in manifest.videos if v.class_name != "t"]
    power = validation_power(missing_one, manifest.classes)
    assert power.missing == ("t",) and not power.sufficient
    assert "1 of 20 classes have no validation video (first: t)" in power.problems()
    def first(count):
        return [v for v in manifest.videos if int(v.video_id.split("_")[1]) < count]

    assert validation_power(first(2), manifest.classes).sufficient  # 40 videos, 2 per class
    assert validation_power(first(1), manifest.classes).problems() == [
        f"20 videos, fewer than {MIN_VALIDATION_VIDEOS}", "1.0 videos per class, fewer than 2"]
