#!/usr/bin/env python3
"""ONNX Runtime on every example pipeline's exported model, and docs/model-format.md's numpy snippet.

Run by .ci/run inside a venv with onnxruntime, onnx, numpy, pyarrow and scikit-learn:

    python tests/onnx/check.py target/release/dimred

For each pipelines/*.yaml it runs the pipeline with `output.onnx: true`, checks the graph
with `onnx.checker.check_model(full_check=True)`, runs it in ONNX Runtime on the
pipeline's input and compares every output with reduced.parquet; then it exports float64
and float32 graphs with the reconstruction error and compares them with
`dimred transform --reconstruction-error` (kernel PCA's when fitted with
fit_inverse_transform). float64 graphs must agree to 1e-10 and float32
graphs to 1e-5, relative to each column's largest value; an autoencoder's network is f32
in dimred itself, so its graphs are held to 1e-5 in both types. A model with `filter` and
`derive` steps gets its input from Python polars running them on the whole file. Last, model.npz rebuilds a
scikit-learn StandardScaler and PCA whose transform matches reduced.parquet. pyarrow reads
the provenance in every reduced.parquet's and transform output's footer (dimred.model_sha256
is the hash of model.json as written), a float32 run's columns are float32, and numpy loads
tests/onnx/zip64.npz, the npz writer's ZIP64 layout.
"""

import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIMRED = os.path.abspath(sys.argv[1])


def dimred(*args):
    subprocess.run([DIMRED, *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def read_table(path):
    if path.endswith(".parquet"):
        return pq.read_table(os.path.join(ROOT, path))
    return pcsv.read_csv(os.path.join(ROOT, path))


def apply_row_steps(table, steps):
    """A model's `filter` and `derive` steps, run by Python polars on the whole table."""
    if not steps:
        return table
    import polars as pl

    df = pl.from_arrow(table)
    for step in steps:
        if "filter" in step:
            query = f"SELECT * FROM data WHERE {step['filter']}"
        else:
            derived = ", ".join(f'{e} AS "{n}"' for n, e in step["derive"].items())
            query = f"SELECT *, {derived} FROM data"
        df = pl.SQLContext(data=df).execute(query, eager=True)
    return df.to_arrow()


def matrix(table, names):
    return np.column_stack(
        [table.column(n).to_numpy(zero_copy_only=False).astype(np.float64) for n in names]
    )


def assert_close(actual, expected, rtol, what):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    scale = np.max(np.abs(expected))
    worst = np.max(np.abs(actual - expected))
    assert worst <= rtol * scale, f"{what}: max difference {worst:.3e} > {rtol} x {scale:.3e}"
    return worst / scale if scale > 0 else 0.0


def run_graph(path, x):
    onnx.checker.check_model(onnx.load(path), full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    dtype = np.float32 if meta["dtype"] == "float32" else np.float64
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {"features": x.astype(dtype)})
    return dict(zip(names, values)), meta


def compare(outputs, expected, columns, rtol, what):
    worst = 0.0
    for j, name in enumerate(columns):
        want = expected.column(name).to_numpy()
        worst = max(worst, assert_close(outputs[name], want, rtol, f"{what} {name}"))
        worst = max(worst, assert_close(outputs["reduced"][:, j], want, rtol, f"{what} reduced[:, {j}]"))
    if "reconstruction_error" in outputs:
        want = expected.column("reconstruction_error").to_numpy()
        worst = max(
            worst,
            assert_close(outputs["reconstruction_error"], want, rtol, f"{what} reconstruction_error"),
        )
    return worst


def generated_inputs():
    """The data the generated_* pipelines read, made as their comments say."""
    for path in glob.glob(os.path.join(ROOT, "pipelines", "generated_*.yaml")):
        for line in open(path):
            m = re.match(r"#\s+dimred generate (.*)$", line)
            if m and not os.path.exists(os.path.join(ROOT, m.group(1).split("--output ")[1].split()[0])):
                dimred("generate", *m.group(1).split(), "--quiet")


def main():
    generated_inputs()
    work = tempfile.mkdtemp(prefix="dimred-onnx-")
    rows = []
    for yaml in sorted(glob.glob(os.path.join(ROOT, "pipelines", "*.yaml"))):
        name = os.path.basename(yaml)[: -len(".yaml")]
        text = open(yaml).read()
        source = re.search(r"^\s*path:\s*(\S+)", text, re.M).group(1)
        out = os.path.join(work, name)
        dimred("run", yaml, "--set", f"output.dir={out}", "--set", "output.onnx=true", "--quiet")
        model = json.load(open(os.path.join(out, "model.json")))
        assert model["missing"] != "skip_row", f"{name}: the graph cannot drop rows"
        # row steps: the graph starts from the features after them (polars computes them here)
        x = matrix(apply_row_steps(read_table(source), model.get("row_steps")), model["feature_names_in_"])
        columns = model["output_columns"]
        f32_network = "autoencoder" in model["steps"]
        tol64 = 1e-5 if f32_network else 1e-10

        outputs, meta = run_graph(os.path.join(out, "model.onnx"), x)
        assert json.loads(meta["feature_names"]) == model["feature_names_in_"]
        assert json.loads(meta["output_columns"]) == columns
        reduced = pq.read_table(os.path.join(out, "reduced.parquet"))
        check_provenance(os.path.join(out, "reduced.parquet"), out, model, "forward", "float64")
        worst = {"run": compare(outputs, reduced, columns, tol64, f"{name} model.onnx")}

        # kernel PCA fitted without fit_inverse_transform has no inverse map, so no
        # reconstruction error
        invertible = "dual_coef_" in model.get("kernel_pca", {"dual_coef_": None})
        error = ["--reconstruction-error"] if invertible else []
        transformed = os.path.join(out, "transformed.parquet")
        dimred(
            "transform", "--model", os.path.join(out, "model.json"), "--input", source,
            "--output", transformed, *error, "--quiet",
        )
        expected = pq.read_table(transformed)
        check_provenance(transformed, out, model, "forward", "float64")
        sizes = {}
        for dtype, tol in (("float64", tol64), ("float32", 1e-5)):
            graph = os.path.join(out, f"{dtype}.onnx")
            dimred(
                "export", "--model", os.path.join(out, "model.json"), "--onnx", graph,
                "--dtype", dtype, *error,
            )
            outputs, _ = run_graph(graph, x)
            worst[dtype] = compare(outputs, expected, columns, tol, f"{name} {dtype}")
            sizes[dtype] = os.path.getsize(graph)
        rows.append((name, " > ".join(model["steps"]), x.shape, worst, sizes))

    check_npz(work)
    check_kernel_pca_npz(work)
    check_autoencoder_npz(work)
    check_float32(work)
    check_zip64()
    check_recurrent_npz(work)
    print(f"{'pipeline':<28} {'steps':<28} {'rows x p':>12} {'run f64':>9} {'f64+err':>9} {'f32+err':>9}")
    for name, steps, shape, worst, sizes in rows:
        print(
            f"{name:<28} {steps:<28} {shape[0]:>6} x {shape[1]:<4} "
            f"{worst['run']:9.1e} {worst['float64']:9.1e} {worst['float32']:9.1e}"
        )
    print(f"ONNX Runtime {ort.__version__}, onnx {onnx.__version__}: {len(rows)} pipelines agree")


def check_provenance(path, out, model, direction, dtype):
    """The footer's key-value metadata, as pyarrow reads it, names the model that wrote the
    file: its SHA-256 computed here from model.json's bytes, its features, columns, steps."""
    meta = {k.decode(): v.decode() for k, v in pq.read_metadata(path).metadata.items()}
    sha = hashlib.sha256(open(os.path.join(out, "model.json"), "rb").read()).hexdigest()
    assert meta["dimred.model_sha256"] == sha, f"{path}: {meta['dimred.model_sha256']} != {sha}"
    assert meta["dimred.pipeline"] == model["pipeline"], path
    assert meta["dimred.version"] == model["dimred_version"], path
    assert json.loads(meta["dimred.feature_names"]) == model["feature_names_in_"], path
    assert json.loads(meta["dimred.output_columns"]) == model["output_columns"], path
    assert json.loads(meta["dimred.steps"]) == model["steps"], path
    assert (meta["dimred.direction"], meta["dimred.dtype"]) == (direction, dtype), path
    # pyarrow hands the same pairs to the table's schema
    schema_meta = pq.read_table(path).schema.metadata
    assert schema_meta[b"dimred.model_sha256"] == sha.encode(), path


def check_float32(work):
    """`output.dtype: float32` writes float32 columns, and transform follows the model."""
    yaml = os.path.join(ROOT, "pipelines", "breast_cancer_pca.yaml")
    out = os.path.join(work, "float32")
    dimred("run", yaml, "--set", f"output.dir={out}", "--set", "output.dtype=float32", "--quiet")
    model = json.load(open(os.path.join(out, "model.json")))
    reduced = os.path.join(out, "reduced.parquet")
    for name in model["output_columns"]:
        assert pq.read_schema(reduced).field(name).type == "float", name
    check_provenance(reduced, out, model, "forward", "float32")
    inverse = os.path.join(out, "inverse.parquet")
    dimred("transform", "--model", os.path.join(out, "model.json"), "--input", reduced,
           "--output", inverse, "--inverse", "--quiet")
    check_provenance(inverse, out, model, "inverse", "float32")
    assert pq.read_schema(inverse).field(model["feature_names_in_"][0]).type == "float"
    print("reduced.parquet and transform outputs: provenance read by pyarrow, float32 columns")


def check_zip64():
    """numpy reads the npz writer's ZIP64 layout (every size and offset in ZIP64 fields)."""
    z = np.load(os.path.join(ROOT, "tests", "onnx", "zip64.npz"))
    assert z["mean_"].tolist() == [1.5, -2.0, 3.25]
    assert z["components_"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert z["feature_names_in_"].tolist() == ["a", "bé"]
    print("tests/onnx/zip64.npz: numpy reads the ZIP64 records")


def check_npz(work):
    """docs/model-format.md's snippet: model.npz → scikit-learn objects → the same rows."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    out = os.path.join(work, "breast_cancer_pca")
    table = read_table("sample-data/breast_cancer.csv")
    reduced = pq.read_table(os.path.join(out, "reduced.parquet"))

    # --- docs/model-format.md snippet begins ---
    z = np.load(os.path.join(out, "model.npz"))
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_ = z["mean_"], z["scale_"]
    scaler.var_, scaler.n_features_in_ = z["scale_"] ** 2, int(z["n_features_in_"])
    pca = PCA(n_components=len(z["components_"]), whiten=bool(z["whiten"]))
    pca.components_, pca.explained_variance_ = z["components_"], z["explained_variance_"]
    pca.mean_, pca.n_features_in_ = np.zeros(int(z["n_features_in_"])), int(z["n_features_in_"])
    X = np.column_stack([table.column(n).to_numpy() for n in z["feature_names_in_"]])
    Z = pca.transform(scaler.transform(X))
    # --- docs/model-format.md snippet ends ---

    for j, name in enumerate(z["output_columns"]):
        assert_close(Z[:, j], reduced.column(str(name)).to_numpy(), 1e-10, f"npz {name}")
    print(f"model.npz: scikit-learn StandardScaler + PCA give reduced.parquet ({Z.shape[1]} columns)")


def check_kernel_pca_npz(work):
    """model.npz's pre-image map (docs/model-format.md) rebuilds, in numpy, the rows that
    `dimred transform --inverse` writes from the kernel PCA example's reduced columns:
    x̂ = k(z, X_transformed_fit_) @ dual_coef_, then the scaler undone."""
    out = os.path.join(work, "wine_kernel_pca_inverse")
    z = np.load(os.path.join(out, "model.npz"))
    reduced = pq.read_table(os.path.join(out, "reduced.parquet"))
    Z = matrix(reduced, [str(n) for n in z["output_columns"]])
    fit = z["kernel_pca.X_transformed_fit_"]
    gamma = json.load(open(os.path.join(out, "model.json")))["kernel_pca"]["gamma"]
    squared = (Z**2).sum(1)[:, None] + (fit**2).sum(1)[None, :] - 2 * Z @ fit.T
    rebuilt = np.exp(-gamma * np.maximum(squared, 0)) @ z["kernel_pca.dual_coef_"]
    rebuilt = rebuilt * z["scale_"] + z["mean_"]
    inverse = os.path.join(out, "inverse.parquet")
    dimred("transform", "--model", os.path.join(out, "model.json"), "--input",
           os.path.join(out, "reduced.parquet"), "--output", inverse, "--inverse", "--quiet")
    expected = matrix(pq.read_table(inverse), [str(n) for n in z["feature_names_in_"]])
    assert_close(rebuilt, expected, 1e-10, "kernel_pca npz pre-image")
    print(f"model.npz: kernel_pca's dual_coef_ rebuilds transform --inverse ({rebuilt.shape[1]} features)")


def check_autoencoder_npz(work):
    """model.npz's tensors, in PyTorch's layout, rebuild the conv example's codes in numpy:
    its encoder (conv with TensorFlow's `same` padding, max pooling, flatten, dense) written
    here from the layers' definitions in docs/autoencoder.md, not from dimred's code."""
    out = os.path.join(work, "digits_conv_autoencoder")
    z = np.load(os.path.join(out, "model.npz"))
    layers = json.load(open(os.path.join(out, "model.json")))["autoencoder"]["layers"]
    table = read_table("sample-data/digits.parquet")
    x = np.column_stack([table.column(str(n)).to_numpy().astype(np.float64) for n in z["feature_names_in_"]])
    a = ((x - z["data_min_"]) / z["scale_"]).reshape(-1, 8, 8, 1)  # NHWC
    acts = {"linear": lambda v: v, "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh,
            "relu": lambda v: np.maximum(v, 0),
            "selu": lambda v: 1.0507009873554805 * np.where(v > 0, v, 1.6732632423543772 * np.expm1(v))}
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    for l in range(int(z["autoencoder.code_layer"]) + 1):
        kind = str(z[f"autoencoder.layer{l}.kind"][0])
        act = acts[str(z[f"autoencoder.layer{l}.activation"][0])]
        spec = layers[l]["spec"][kind] if isinstance(layers[l]["spec"], dict) else {}
        if kind == "conv":
            w, b = z[f"autoencoder.layer{l}.weight"], z[f"autoencoder.layer{l}.bias"]
            (kh, kw), (sh, sw) = pair(spec["kernel"]), pair(spec.get("stride", 1))
            n, h, wd, _ = a.shape
            if spec.get("padding", "valid") == "same":
                oh, ow = -(-h // sh), -(-wd // sw)
                ph, pw = max((oh - 1) * sh + kh - h, 0), max((ow - 1) * sw + kw - wd, 0)
                a = np.pad(a, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
            else:
                oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
            y = np.zeros((n, oh, ow, w.shape[0]))
            for ky in range(kh):
                for kx in range(kw):
                    patch = a[:, ky:ky + sh * (oh - 1) + 1:sh, kx:kx + sw * (ow - 1) + 1:sw, :]
                    y += np.einsum("nhwc,oc->nhwo", patch, w[:, :, ky, kx])
            a = act(y + b)
        elif kind == "max_pool":
            (kh, kw) = pair(spec["size"])
            (sh, sw) = pair(spec.get("stride", spec["size"]))
            n, h, wd, c = a.shape
            oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
            a = np.max([a[:, ky:ky + sh * (oh - 1) + 1:sh, kx:kx + sw * (ow - 1) + 1:sw, :]
                        for ky in range(kh) for kx in range(kw)], axis=0)
        elif kind == "flatten":
            a = a.reshape(a.shape[0], -1)
        elif kind == "dense":
            a = act(a @ z[f"autoencoder.layer{l}.weights"] + z[f"autoencoder.layer{l}.bias"])
        else:
            raise AssertionError(f"layer {l}: {kind} not rebuilt here")
    reduced = pq.read_table(os.path.join(out, "reduced.parquet"))
    for j, name in enumerate(z["output_columns"]):
        assert_close(a[:, j], reduced.column(str(name)).to_numpy(), 1e-5, f"conv npz {name}")
    print(f"model.npz: numpy rebuilds the conv autoencoder's codes from its tensors ({a.shape[1]} columns)")


def check_recurrent_npz(work):
    """model.npz's tensors, named as PyTorch's nn.GRU state dict, rebuild the recurrent
    example's codes in numpy from PyTorch's GRU equations (gates r, z, n; n = tanh(W_in x +
    b_in + r * (W_hn h + b_hn)); h' = (1 - z) n + z h), not from dimred's code."""
    out = os.path.join(work, "digits_recurrent_autoencoder")
    z = np.load(os.path.join(out, "model.npz"))
    table = read_table("sample-data/digits.parquet")
    x = np.column_stack([table.column(str(n)).to_numpy().astype(np.float64) for n in z["feature_names_in_"]])
    seq = ((x - z["data_min_"]) / z["scale_"]).reshape(len(x), 8, 8)  # [N, steps, features]
    sig = lambda v: 1 / (1 + np.exp(-v))
    for l in range(int(z["autoencoder.code_layer"]) + 1):
        kind = str(z[f"autoencoder.layer{l}.kind"][0])
        assert kind == "gru", f"layer {l}: {kind} not rebuilt here"
        p = lambda name: z[f"autoencoder.layer{l}.{name}_l0"]
        wi, wh, bi, bh = p("weight_ih"), p("weight_hh"), p("bias_ih"), p("bias_hh")
        u = wh.shape[1]
        h = np.zeros((len(seq), u))
        states = []
        for t in range(seq.shape[1]):
            gx, gh = seq[:, t] @ wi.T + bi, h @ wh.T + bh
            r = sig(gx[:, :u] + gh[:, :u])
            zg = sig(gx[:, u:2 * u] + gh[:, u:2 * u])
            n = np.tanh(gx[:, 2 * u:] + r * gh[:, 2 * u:])
            h = (1 - zg) * n + zg * h
            states.append(h)
        seq = np.stack(states, 1)
    codes = seq[:, -1]
    reduced = pq.read_table(os.path.join(out, "reduced.parquet"))
    for j, name in enumerate(z["output_columns"]):
        assert_close(codes[:, j], reduced.column(str(name)).to_numpy(), 1e-5, f"gru npz {name}")
    print(f"model.npz: numpy rebuilds the recurrent autoencoder's codes from its GRU tensors ({codes.shape[1]} columns)")


if __name__ == "__main__":
    main()
