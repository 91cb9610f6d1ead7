"""A throwaway Orthanc for tests: its own JSON config in a temporary folder, REST on localhost.

Orthanc (the Debian package ``orthanc``) is the PACS of the integration tests: it stores what it
receives, sends studies to a registered modality (``POST /modalities/<name>/store``) and only
accepts C-STOREs from the modalities registered with ``AllowStore`` (``DicomAlwaysAllowStore``
is off), as a hospital PACS would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ORTHANC = shutil.which("Orthanc")
ORTHANC_AET = "ORTHANC"


def orthanc_config(root: Path, http_port: int, dicom_port: int, node_aet: str, node_port: int
                   ) -> dict[str, Any]:
    return {
        "Name": "test-pacs",
        "StorageDirectory": str(root / "storage"),
        "IndexDirectory": str(root / "index"),
        "HttpPort": http_port, "DicomPort": dicom_port, "DicomAet": ORTHANC_AET,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "HttpServerEnabled": True, "DicomServerEnabled": True,
        "DicomAlwaysAllowStore": False, "DicomAlwaysAllowEcho": False,
        "DicomCheckModalityHost": True, "DicomCheckCalledAet": True,
        "DicomModalities": {"lungnode": {"AET": node_aet, "Host": "127.0.0.1", "Port": node_port,
                                         "AllowEcho": True, "AllowStore": True}},
        "SaveJobs": False, "Plugins": [], "StableAge": 1,
    }


class Orthanc:
    """``Orthanc config.json`` as a subprocess, with a few REST helpers."""

    def __init__(self, root: Path, http_port: int, dicom_port: int, node_aet: str,
                 node_port: int) -> None:
        self.root = root
        self.http_port = http_port
        self.dicom_port = dicom_port
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "config.json"
        self.config.write_text(json.dumps(orthanc_config(root, http_port, dicom_port, node_aet,
                                                         node_port), indent=2))
        self.log = root / "orthanc.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dest(self) -> str:
        return f"{ORTHANC_AET}@127.0.0.1:{self.dicom_port}"

    def start(self, timeout_s: float = 30.0) -> Orthanc:
        assert ORTHANC is not None
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([ORTHANC, str(self.config)], stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {self.log.read_text()[-2000:]}")
            try:
                self.get("/system")
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise RuntimeError("Orthanc did not answer on its REST port")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def _call(self, method: str, path: str, body: bytes | None = None,
              content_type: str = "application/json", timeout_s: float = 120.0) -> bytes:
        request = urllib.request.Request(self.url + path, data=body, method=method,
                                         headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return bytes(response.read())

    def get(self, path: str) -> Any:
        return json.loads(self._call("GET", path))

    def post(self, path: str, payload: Any) -> Any:
        return json.loads(self._call("POST", path, json.dumps(payload).encode()))

    def upload(self, files: list[Path]) -> str:
        """``POST /instances`` each file; returns the Orthanc id of their study."""
        studies = {json.loads(self._call("POST", "/instances", f.read_bytes(),
                                         "application/dicom"))["ParentStudy"] for f in files}
        assert len(studies) == 1, studies
        return studies.pop()

    def send_to_node(self, study_id: str) -> Any:
        return self.post("/modalities/lungnode/store", {"Resources": [study_id],
                                                        "Synchronous": True})

    def series_of(self, study_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/studies/{study_id}/series"))

    def instance_file(self, instance_id: str) -> bytes:
        return self._call("GET", f"/instances/{instance_id}/file")
