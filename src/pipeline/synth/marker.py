"""``synthetic-cohort.json``: the proof that a folder of DICOM is the cohort ``synthesize`` wrote.

The public demo de-identification key may only be used on invented identities. The synthesizer
writes this marker beside its ``dicom/`` folder, listing the SHA-256 of every file it wrote;
:func:`is_synthetic_cohort` accepts a folder only when it holds exactly those files with exactly
those contents, so a folder given by hand (or a synthetic folder with one real file added or
replaced) never qualifies, whatever ``params.yaml`` says.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MARKER_NAME = "synthetic-cohort.json"
GENERATOR = "pipeline.synth"
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _files(folder: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            found.append((Path(dirpath) / name).relative_to(folder).as_posix())
    return sorted(found)


def write_marker(cohort_root: Path, dicom_dir: str = "dicom") -> Path:
    """Write ``cohort_root/synthetic-cohort.json`` listing every file under ``dicom_dir``."""
    folder = cohort_root / dicom_dir
    manifest = {"generator": GENERATOR, "dicom_dir": dicom_dir,
                "files": {rel: file_digest(folder / rel) for rel in _files(folder)}}
    path = cohort_root / MARKER_NAME
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def is_synthetic_cohort(dicom_folder: Path) -> bool:
    """True when ``dicom_folder`` holds exactly the files (names and SHA-256) that the marker
    beside it lists; False for any other folder, a missing or unreadable marker, or a mismatch."""
    folder = Path(dicom_folder).absolute()
    try:
        manifest = json.loads((folder.parent / MARKER_NAME).read_text(encoding="utf-8"))
        if (manifest.get("generator") != GENERATOR or manifest.get("dicom_dir") != folder.name
                or not folder.is_dir()):
            return False
        listed: dict[str, str] = manifest["files"]
        if not listed or sorted(listed) != _files(folder):
            return False
        return all(file_digest(folder / rel) == digest for rel, digest in listed.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
