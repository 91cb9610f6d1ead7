"""Atomic writes: complete files or nothing, never half-written outputs."""

import os

import pandas as pd
import pytest

from pipeline import io
from pipeline.errors import OutputBusyError


def test_write_json_is_stable_and_sorted(tmp_path):
    path = tmp_path / "m.json"
    io.write_json(path, {"b": 1, "a": [1.5, 2]})
    first = path.read_bytes()
    io.write_json(path, {"a": [1.5, 2], "b": 1})
    assert path.read_bytes() == first
    assert first.startswith(b'{\n  "a"') and first.endswith(b"\n")


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.txt"
    io.write_text(path, "old")
    with pytest.raises(RuntimeError), io.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash in the middle")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_dir_replaces_whole_directory_only_on_success(tmp_path):
    target = tmp_path / "vols"
    with io.atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(ValueError), io.atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("2")
        raise ValueError("bad input")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with io.atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".vols.lock", "vols"]


def test_atomic_path_keeps_suffix_for_format_detection(tmp_path):
    with io.atomic_path(tmp_path / "v.nii.gz", suffix=".nii.gz") as tmp:
        assert tmp.name.endswith(".nii.gz")
        tmp.write_bytes(b"x")
    assert (tmp_path / "v.nii.gz").read_bytes() == b"x"


def test_read_csv_keeps_uids_as_strings(tmp_path):
    path = tmp_path / "c.csv"
    io.write_csv(path, pd.DataFrame({"seriesuid": ["1.2.30"], "coordX": [1.0]}))
    frame = io.read_csv(path)
    assert frame.loc[0, "seriesuid"] == "1.2.30"


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_outputs_follow_the_users_umask(tmp_path, umask_027):
    io.write_json(tmp_path / "m.json", {"a": 1})
    with io.atomic_dir(tmp_path / "vols") as tmp:
        (tmp / "v.txt").write_text("x")
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "vols").stat().st_mode & 0o777 == 0o750


def test_second_writer_of_the_same_output_is_refused(tmp_path):
    with io.atomic_dir(tmp_path / "vols") as tmp:
        (tmp / "a.txt").write_text("1")
        with pytest.raises(OutputBusyError, match="another run is writing"), \
                io.atomic_dir(tmp_path / "vols"):
            pass
    assert sorted(p.name for p in (tmp_path / "vols").iterdir()) == ["a.txt"]


def test_stale_temporaries_of_a_killed_run_are_removed_by_the_next(tmp_path):
    stale = tmp_path / ".vols.abc123"
    (stale / "dicom").mkdir(parents=True)
    (tmp_path / ".vols.old").mkdir()
    (tmp_path / ".other.xyz").mkdir()  # another output's temporary: not ours to remove
    with io.atomic_dir(tmp_path / "vols") as tmp:
        (tmp / "a.txt").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.xyz", ".vols.lock", "vols"]


def test_output_inside_input_is_refused(tmp_path):
    with pytest.raises(OutputBusyError, match="must not be inside the input"):
        io.check_separate(tmp_path / "in", tmp_path / "in" / "out")
    with pytest.raises(OutputBusyError):
        io.check_separate(tmp_path / "out" / "in", tmp_path / "out")
    io.check_separate(tmp_path / "in", tmp_path / "out")
