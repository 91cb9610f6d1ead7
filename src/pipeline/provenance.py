"""What produced a result: the versions of the packages that shape it."""

from __future__ import annotations

from importlib import metadata

#: Packages whose version can change a number the pipeline reports.
KEY_PACKAGES = ("numpy", "scipy", "pydicom", "SimpleITK", "torch", "scikit-learn", "onnx",
                "onnxruntime")


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Installed version of each package (``"not installed"`` when missing), by name."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
