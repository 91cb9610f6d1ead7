"""The evaluate stage's chunked CSV writers give the bytes of the one-shot writer."""

import numpy as np
import pandas as pd
import pytest

from pipeline.evaluation.output import Predictions, write_predictions, write_table
from pipeline.io import write_csv


def _oof(n, seed, uid_prefix="1.2.3"):
    rng = np.random.default_rng(seed)
    series = pd.Categorical([f"{uid_prefix}.{i % 3}" for i in range(n)])
    return pd.DataFrame({
        "fold": (np.arange(n) % 2).astype(np.int8), "series_uid": series,
        "candidate_id": np.arange(n, dtype=np.int64) * 7,
        "coordX": rng.uniform(-100, 100, n), "label": (np.arange(n) % 5 == 0).astype(np.int8),
        "probability": rng.uniform(0, 1, n).round(6), "prediction": rng.integers(0, 2, n)})


@pytest.mark.parametrize("chunk_rows", [1, 3, 7, 1000])
@pytest.mark.parametrize("float_format", [None, "%.6f"])
def test_write_table_in_chunks_gives_the_bytes_of_write_csv(tmp_path, chunk_rows, float_format):
    frame = _oof(20, 1).assign(curve=lambda f: f["coordX"] / 3)  # floats with long reprs
    write_csv(tmp_path / "whole.csv", frame, float_format=float_format)
    write_table(tmp_path / "chunks.csv", frame, float_format=float_format, chunk_rows=chunk_rows)
    assert (tmp_path / "chunks.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()


def test_write_table_of_a_categorical_confusion_table_and_of_an_empty_table(tmp_path):
    names = ("not nodule", "nodule")
    codes = np.array([1, 0, 0, 1, 0], dtype=np.int8)
    compact = pd.DataFrame({"actual": pd.Categorical.from_codes(codes, categories=names)})
    plain = pd.DataFrame({"actual": [names[c] for c in codes]})
    write_csv(tmp_path / "plain.csv", plain)
    write_table(tmp_path / "compact.csv", compact, chunk_rows=2)
    assert (tmp_path / "compact.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()
    empty = pd.DataFrame({"fpr": np.zeros(0), "tpr": np.zeros(0)})
    write_csv(tmp_path / "e1.csv", empty)
    write_table(tmp_path / "e2.csv", empty)
    assert (tmp_path / "e2.csv").read_bytes() == (tmp_path / "e1.csv").read_bytes() == b"fpr,tpr\n"


@pytest.mark.parametrize("chunk_rows", [2, 5, 64])
def test_predictions_write_the_concatenation_of_the_assigned_tables(tmp_path, chunk_rows):
    model, baseline = _oof(11, 2), _oof(11, 3, uid_prefix="1.2.4")
    preds = Predictions(parts=((model, {"model": "cnn3d", "role": "model"}),
                               (baseline, {"model": "seed2d", "role": "baseline"})))
    whole = pd.concat([model.assign(model="cnn3d", role="model"),
                       baseline.assign(model="seed2d", role="baseline")], ignore_index=True)
    assert len(preds) == 22 and preds.columns == list(whole.columns)
    pd.testing.assert_frame_equal(preds.to_frame().astype(str), whole.astype(str))
    write_csv(tmp_path / "whole.csv", whole, float_format="%.6f")
    write_predictions(tmp_path / "chunks.csv", preds, chunk_rows=chunk_rows)
    assert (tmp_path / "chunks.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
    text = (tmp_path / "chunks.csv").read_text().splitlines()
    assert text[0].endswith(",model,role") and text[1].endswith(",cnn3d,model")
    assert text[-1].endswith(",seed2d,baseline") and len(text) == 23


def test_a_failed_write_leaves_no_file(tmp_path):
    class Broken(Predictions):
        def chunks(self, chunk_rows=1):
            yield _oof(2, 0)
            raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        write_predictions(tmp_path / "p.csv", Broken(parts=((_oof(2, 0), {}),)))
    assert list(tmp_path.iterdir()) == []
