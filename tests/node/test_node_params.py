"""Node settings: the node: section, the flags over it, and one-line errors with exit 2."""

from __future__ import annotations

import pytest
import yaml

from pipeline.errors import ConfigError
from pipeline.node.cli import main, parse_args, settings
from pipeline.node.params import Destination, NodeParams, node_params

BASE = dict(aet="LUNGNODE", port=11112, dest="ORTHANC@127.0.0.1:4242", model="models/model.onnx",
            workdir="node")


def test_destination_parses_aet_host_and_port():
    d = Destination.parse("PACS_01@pacs.example.org:104")
    assert (d.aet, d.host, d.port) == ("PACS_01", "pacs.example.org", 104)
    assert str(d) == "PACS_01@pacs.example.org:104"


@pytest.mark.parametrize("text", ["PACS@host", "host:104", "PACS@host:0", "PACS@host:70000",
                                  "TOO_LONG_AE_TITLE_X@h:104", "BAD\\AE@h:104", "@h:104"])
def test_bad_destination_names_the_key(text):
    with pytest.raises(ConfigError, match="node.dest"):
        Destination.parse(text)


@pytest.mark.parametrize(("key", "value", "match"), [
    ("aet", "", "node.aet"), ("aet", "A" * 17, "node.aet"), ("port", 0, "node.port"),
    ("quiet_seconds", 0.0, "node.quiet_seconds"), ("queue_size", 0, "node.queue_size"),
    ("retry_max_s", 1.0, "node.retry_max_s"),
])
def test_out_of_range_setting_names_the_key(key, value, match):
    with pytest.raises(ConfigError, match=match):
        NodeParams(**{**BASE, key: value})


def test_unknown_and_mistyped_keys_are_rejected():
    with pytest.raises(ConfigError, match="unknown parameter node.quiet"):
        node_params({**BASE, "quiet": 3}, {})
    with pytest.raises(ConfigError, match="node.port must be an integer"):
        node_params({**BASE, "port": "11112"}, {})


def test_flags_override_the_params_section(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": {"lr": 0.1}, "node": {**BASE, "quiet_seconds": 4}}))
    args = parse_args(["--params", str(path), "--port", "2000", "--quiet-seconds", "2.5"])
    p = settings(args)
    assert (p.aet, p.port, p.quiet_seconds, p.dest) == ("LUNGNODE", 2000, 2.5, BASE["dest"])


def test_flags_alone_are_enough():
    args = parse_args(["--aet", "N1", "--port", "104", "--dest", "P@h:11112", "--model", "m.onnx",
                       "--workdir", "w"])
    p = settings(args)
    assert (p.aet, p.port, p.destination, p.quiet_seconds) == ("N1", 104,
                                                               Destination("P", "h", 11112), 10.0)


@pytest.mark.parametrize(("argv", "match"), [
    (["--aet", "N1"], "missing --port, --dest, --model, --workdir"),
    (["--aet", "N1", "--port", "104", "--dest", "nonsense", "--model", "m", "--workdir", "w"],
     "node.dest must be AET@HOST:PORT"),
    (["--aet", "N1", "--port", "104", "--dest", "P@h:1", "--model", "absent.onnx",
      "--workdir", "w"], "absent.onnx: model not found"),
])
def test_bad_settings_print_one_line_and_exit_2(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lung-node: error:") and match in err[0]


def test_bad_yaml_in_params_exits_2(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text("node: [unclosed\n")
    assert main(["--params", str(path)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_serve_stage_script_shows_the_stable_flags():
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    done = subprocess.run([sys.executable, str(repo / "stages" / "serve.py"), "--help"],
                          capture_output=True, text=True, env=env, check=True, cwd=repo)
    for flag in ("--aet", "--port", "--dest", "--model", "--workdir", "--quiet-seconds"):
        assert flag in done.stdout
