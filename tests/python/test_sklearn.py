"""dimred.sklearn: a fitted model in a scikit-learn pipeline with a classifier, set_output,
and StreamingPCA against scikit-learn's PCA on the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from dimred.sklearn import StreamingPCA, Transformer
from helpers import features, input_table


def test_a_pipeline_with_a_classifier(runs):
    model = runs("digits_pca").model
    table = input_table("digits_pca")
    frame = table.to_pandas()
    y = frame.pop("label").to_numpy()
    train_x, test_x, train_y, test_y = train_test_split(frame, y, test_size=0.25, random_state=0)
    pipe = make_pipeline(Transformer(model.path), LogisticRegression(max_iter=2000))
    pipe.fit(train_x, train_y)
    # 10 principal components of the digits separate the classes well
    assert pipe.score(test_x, test_y) > 0.85
    # the same through NumPy, the features in the model's order
    x = features(model, table)
    frame_all = table.to_pandas().drop(columns=["label"])
    assert np.array_equal(pipe.predict(x), pipe.predict(frame_all))


def test_set_output_and_feature_names(runs):
    model = runs("digits_pca").model
    t = Transformer(model.path).set_output(transform="pandas")
    frame = input_table("digits_pca").to_pandas()
    out = t.fit_transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == [f"pc{i}" for i in range(1, 11)]
    assert list(t.get_feature_names_out()) == list(out.columns)
    np.testing.assert_allclose(out.to_numpy(), model.transform(features(model, input_table("digits_pca"))), atol=1e-12)


def test_streaming_pca_equals_scikit_learn(tmp_path):
    from conftest import ROOT

    est = StreamingPCA(ROOT / "sample-data" / "digits.parquet", 5, features="^pixel_", solver="exact",
                       output_dir=tmp_path)
    est.fit()
    x = features(est.model_, input_table("digits_pca"))
    ref = PCA(n_components=5, svd_solver="full").fit(x)
    np.testing.assert_allclose(est.explained_variance_, ref.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(est.mean_, ref.mean_, atol=1e-12)
    # components up to sign, as scikit-learn's own sign convention may differ per version
    signs = np.sign(np.sum(est.components_ * ref.components_, axis=1))
    np.testing.assert_allclose(est.components_ * signs[:, None], ref.components_, atol=1e-8)
    np.testing.assert_allclose(est.transform(x) * signs, ref.transform(x), atol=1e-8)
    assert est.n_components_ == 5
    assert (tmp_path / "model.json").exists()


def test_streaming_pca_without_an_output_dir_cleans_up():
    from conftest import ROOT

    est = StreamingPCA(ROOT / "sample-data" / "wine.csv", 2, features=["alcohol", "malic_acid", "ash"]).fit()
    folder = est.model_.path.parent
    assert folder.exists()
    assert list(est.feature_names_in_) == ["alcohol", "malic_acid", "ash"]
    del est
    import gc

    gc.collect()
    assert not folder.exists()


def test_a_transformer_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        Transformer("x.json").transform(np.zeros((1, 2)))
