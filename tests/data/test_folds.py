from collections import Counter

import pytest

from twostream.data.folds import FoldError, assign_folds, read_folds, write_folds
from twostream.data.manifest import Manifest, VideoEntry


def _manifest() -> Manifest:
    """Training videos in groups of 5, 4, 3, 3, 2 and 1, three ungrouped ones, and two test videos."""
    videos = []
    for group, size in enumerate((5, 4, 3, 3, 2, 1), start=1):
        videos += [VideoEntry(f"g{group}_{i}", f"g{group}_{i}.avi", i % 2, f"c{i % 2}", {"1": "train"}, group)
                   for i in range(size)]
    videos += [VideoEntry(f"loose{i}", f"loose{i}.avi", i % 2, f"c{i % 2}", {"1": "train"}) for i in range(3)]
    videos += [VideoEntry(f"test{i}", f"test{i}.avi", i, f"c{i}", {"1": "test"}, 9) for i in range(2)]
    return Manifest("toy", "/videos", ["c0", "c1"], videos)


def test_folds_are_whole_groups_that_cover_the_training_list_once_and_balance_the_counts():
    manifest = _manifest()
    folds = assign_folds(manifest, 1, 3, seed=4)
    training = {v.video_id for v in manifest.select(1, "train")}
    assert set(folds.assignment) == training and set(folds.assignment.values()) == {1, 2, 3}
    members = [set(folds.members(k)) for k in (1, 2, 3)]
    assert set.union(*members) == training and sum(map(len, members)) == len(training)
    for video in manifest.select(1, "train"):
        if video.group is not None:
            assert {folds.assignment[v.video_id] for v in manifest if v.group == video.group} == {
                folds.assignment[video.video_id]}
    sizes = Counter(folds.assignment.values())
    assert max(sizes.values()) - min(sizes.values()) <= 1  # 21 videos in units of 5, 4, 3, 3, 2, 1, 1, 1, 1


def test_folds_are_deterministic_given_the_seed_and_change_with_it():
    manifest = _manifest()
    assert assign_folds(manifest, 1, 3, seed=0) == assign_folds(manifest, 1, 3, seed=0)
    assert len({tuple(sorted(assign_folds(manifest, 1, 3, seed=s).assignment.items())) for s in range(6)}) > 1


def test_too_few_or_too_many_folds_are_refused_with_advice():
    manifest = _manifest()
    with pytest.raises(FoldError, match="at least 2 folds"):
        assign_folds(manifest, 1, 1)
    with pytest.raises(FoldError, match="form 9 groups, too few for 10 folds.*--folds 9 or fewer"):
        assign_folds(manifest, 1, 10)


def test_a_fold_training_manifest_leaves_the_fold_unused_and_folds_json_round_trips(tmp_path):
    manifest = _manifest()
    folds = assign_folds(manifest, 1, 2)
    trained_on = folds.training_manifest(manifest, 2)
    assert {v.video_id for v in trained_on.select(1, "train")} == set(folds.members(1))
    assert {v.video_id for v in trained_on.select(1, "unused")} == set(folds.members(2))
    assert len(trained_on.select(1, "test")) == 2 and len(manifest.select(1, "unused")) == 0
    write_folds(tmp_path, folds)
    assert read_folds(tmp_path) == folds
    with pytest.raises(FoldError, match="holds no folds.json; write it with `twostream train-streams --folds K"):
        read_folds(tmp_path / "elsewhere")
