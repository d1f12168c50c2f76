from collections import Counter

import pytest

from twostream.data.manifest import Manifest, VideoEntry
from twostream.data.splits import index_hmdb51, index_ucf101
from twostream.data.validation import ValidationSplitError, carve_validation


@pytest.mark.parametrize("split", [1, 2, 3])
def test_ucf101_carve_never_puts_a_group_on_both_sides(shared_data, split):
    manifest = index_ucf101(shared_data / "ucf101_splits")
    train, val = carve_validation(manifest, split)
    train_groups, val_groups = {v.group for v in train}, {v.group for v in val}
    assert train_groups.isdisjoint(val_groups) and val_groups
    assert len(train) + len(val) == len(manifest.select(split, "train"))
    assert {v.video_id for v in train}.isdisjoint(v.video_id for v in val)
    # UCF101 holds out the same group numbers in every class: whole groups keep the classes balanced.
    share = Counter(v.label for v in val)
    total = Counter(v.label for v in train + val)
    assert set(share) == set(total) == set(range(101))
    assert all(0.1 <= share[c] / total[c] <= 0.35 for c in total)
    assert 0.15 <= len(val) / (len(train) + len(val)) <= 0.3


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


def _manifest(groups: list[int | None]) -> Manifest:
    videos = [VideoEntry(f"v{i}", f"a/v{i}.avi", i % 2, "ab"[i % 2], {"1": "train"}, group)
              for i, group in enumerate(groups)]
    return Manifest("test", "", ["a", "b"], videos)


def test_mixed_grouped_and_loose_videos_keep_groups_whole():
    manifest = _manifest([1, 1, 2, 2, 3, 3, 4, 4, None, None, None, None, None, None])
    train, val = carve_validation(manifest, 1, fraction=0.3)
    for group in (1, 2, 3, 4):
        sides = {v in val for v in manifest.videos if v.group == group}
        assert len(sides) == 1
    assert val and train


def test_a_single_group_cannot_be_carved():
    with pytest.raises(ValidationSplitError, match="at least two groups"):
        carve_validation(_manifest([5, 5, 5, 5]), 1)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_fraction_outside_zero_one_is_refused(fraction):
    with pytest.raises(ValidationSplitError, match="strictly between 0 and 1"):
        carve_validation(_manifest([1, 2, 3]), 1, fraction=fraction)
