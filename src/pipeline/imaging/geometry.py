"""Image geometry: world millimetres (DICOM patient frame, LPS) <-> voxel indices.

Axis order is written down here, once:

- NumPy arrays are indexed ``(z, y, x)`` (slowest to fastest); a "voxel" coordinate in this
  module is a ``(z, y, x)`` triple, continuous (0.0 is the centre of the first voxel).
- SimpleITK and DICOM index images ``(x, y, z)``; an "index" coordinate here is ``(i, j, k)``
  in that order.
- World points are ``(x, y, z)`` in millimetres in the DICOM patient coordinate system (LPS:
  +x to the patient's left, +y posterior, +z head), as in LUNA16's ``coordX, coordY, coordZ``.

The mapping is ITK's (PS3.3 C.7.6.2.1.1): ``world = origin + direction @ (spacing * index)``, where
the columns of ``direction`` are the unit vectors of the index axes in world space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.errors import GeometryError

Vec3 = tuple[float, float, float]
Mat3 = tuple[float, float, float, float, float, float, float, float, float]

_ORTHO_TOL = 1e-4


@dataclass(frozen=True)
class Geometry:
    """Where an image's voxels sit in the world.

    Attributes:
        origin: world position (mm, LPS) of the centre of voxel index (0, 0, 0).
        spacing: voxel size in mm along the index axes (i, j, k) = (x, y, z).
        direction: 3x3 direction cosines, row-major (ITK's ``GetDirection()`` order); column c is
            the world direction of index axis c.
    """

    origin: Vec3
    spacing: Vec3
    direction: Mat3 = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin", tuple(float(v) for v in self.origin))
        object.__setattr__(self, "spacing", tuple(float(v) for v in self.spacing))
        object.__setattr__(self, "direction",
                           tuple(float(v) for v in np.asarray(self.direction).ravel()))
        if len(self.origin) != 3 or len(self.spacing) != 3 or len(self.direction) != 9:
            raise GeometryError(
                f"expected 3 origin, 3 spacing and 9 direction values, got "
                f"{len(self.origin)}, {len(self.spacing)}, {len(self.direction)}")
        if not all(np.isfinite(self.origin)) or not all(s > 0 for s in self.spacing):
            raise GeometryError(f"expected finite origin and spacing > 0, got origin "
                                f"{self.origin}, spacing {self.spacing}")
        m = self.matrix
        if not np.allclose(m.T @ m, np.eye(3), atol=_ORTHO_TOL):
            raise GeometryError(f"expected an orthonormal direction matrix, got {self.direction}")

    @property
    def matrix(self) -> np.ndarray:
        """Direction cosines as a 3x3 array (columns = index axes in world space)."""
        return np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    @property
    def affine(self) -> np.ndarray:
        """4x4 matrix mapping homogeneous index (i, j, k, 1) to world (x, y, z, 1) in mm."""
        a = np.eye(4)
        a[:3, :3] = self.matrix * np.asarray(self.spacing)[None, :]
        a[:3, 3] = self.origin
        return a

    def index_to_world(self, index: np.ndarray | Sequence[float]) -> np.ndarray:
        """Map continuous ``(i, j, k)`` indices, shape ``(N, 3)`` or ``(3,)``, to world mm."""
        idx = np.asarray(index, dtype=np.float64)
        scaled = idx * np.asarray(self.spacing)
        return scaled @ self.matrix.T + np.asarray(self.origin)

    def world_to_index(self, world: np.ndarray | Sequence[float]) -> np.ndarray:
        """Map world mm, shape ``(N, 3)`` or ``(3,)``, to continuous ``(i, j, k)`` indices."""
        w = np.asarray(world, dtype=np.float64) - np.asarray(self.origin)
        return (w @ self.matrix) / np.asarray(self.spacing)

    def voxel_to_world(self, voxel: np.ndarray | Sequence[float]) -> np.ndarray:
        """Map continuous NumPy ``(z, y, x)`` voxel coordinates to world mm."""
        return self.index_to_world(np.asarray(voxel, dtype=np.float64)[..., ::-1])

    def world_to_voxel(self, world: np.ndarray | Sequence[float]) -> np.ndarray:
        """Map world mm to continuous NumPy ``(z, y, x)`` voxel coordinates."""
        return self.world_to_index(world)[..., ::-1]

    def axis_permutation(self) -> tuple[tuple[int, int, int], tuple[int, int, int]] | None:
        """If the direction is a signed permutation, return it; else None (oblique).

        Returns ``(world_axis_of_index_axis, sign_of_index_axis)``: index axis ``c`` runs along
        world axis ``world_axis[c]`` in direction ``sign[c]``.
        """
        m = self.matrix
        world_axis = tuple(int(np.argmax(np.abs(m[:, c]))) for c in range(3))
        if sorted(world_axis) != [0, 1, 2]:
            return None
        for c in range(3):
            if abs(abs(m[world_axis[c], c]) - 1.0) > _ORTHO_TOL:
                return None
        sign = tuple(1 if m[world_axis[c], c] > 0 else -1 for c in range(3))
        return world_axis, sign  # type: ignore[return-value]

    def to_dict(self) -> dict[str, list[float]]:
        """Plain-JSON form, for tables and ONNX metadata."""
        return {"origin": list(self.origin), "spacing": list(self.spacing),
                "direction": list(self.direction)}

    @classmethod
    def from_sitk(cls, image: object) -> Geometry:
        """Geometry of a ``SimpleITK.Image``."""
        return cls(origin=image.GetOrigin(), spacing=image.GetSpacing(),  # type: ignore[attr-defined]
                   direction=image.GetDirection())  # type: ignore[attr-defined]

    def apply_to_sitk(self, image: object) -> None:
        """Set this geometry on a ``SimpleITK.Image`` in place."""
        image.SetOrigin(self.origin)  # type: ignore[attr-defined]
        image.SetSpacing(self.spacing)  # type: ignore[attr-defined]
        image.SetDirection(self.direction)  # type: ignore[attr-defined]


def direction_from_dicom(image_orientation_patient: Sequence[float]) -> np.ndarray:
    """3x3 direction from ImageOrientationPatient (0020,0037), PS3.3 C.7.6.2.1.1.

    Column 0 is the row direction (x index, along a row), column 1 the column direction, column 2
    their cross product, the slice normal. Slices must be stacked in increasing position along it.
    """
    iop = np.asarray(image_orientation_patient, dtype=np.float64)
    if iop.shape != (6,):
        raise GeometryError(f"expected 6 ImageOrientationPatient values, got {iop.tolist()}")
    row, col = iop[:3], iop[3:]
    if not (np.isclose(np.linalg.norm(row), 1, atol=1e-3)
            and np.isclose(np.linalg.norm(col), 1, atol=1e-3)
            and abs(float(row @ col)) < 1e-3):
        raise GeometryError(
            f"ImageOrientationPatient is not two orthonormal vectors: {iop.tolist()}")
    row = row / np.linalg.norm(row)
    col = col / np.linalg.norm(col)
    normal = np.cross(row, col)
    return np.stack([row, col, normal], axis=1)


def slice_normal(image_orientation_patient: Sequence[float]) -> np.ndarray:
    """Unit slice normal (row x column direction cosines) from ImageOrientationPatient."""
    return direction_from_dicom(image_orientation_patient)[:, 2]


def rotation_matrix(degrees: float, axis: str) -> Mat3:
    """Row-major 3x3 rotation about world axis ``"x"``, ``"y"`` or ``"z"``; for tests and synth."""
    t = np.deg2rad(degrees)
    c, s = np.cos(t), np.sin(t)
    mats = {
        "x": [[1, 0, 0], [0, c, -s], [0, s, c]],
        "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
        "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]],
    }
    if axis not in mats:
        raise ValueError(f"expected axis 'x', 'y' or 'z', got {axis!r}")
    return tuple(float(v) for v in np.asarray(mats[axis]).ravel())  # type: ignore[return-value]
