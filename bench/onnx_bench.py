"""ONNX Runtime on a Parquet file as a user would run it: pyarrow reads batches of 65,536 rows,
the graph reduces them, pyarrow writes the reduced columns. Prints rows/s for the whole and
for ONNX Runtime's run calls alone. Usage: onnx_bench.py MODEL.onnx DATA.parquet OUT.parquet"""

import json
import sys
import time

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq

model, data, out = sys.argv[1:4]
started = time.perf_counter()
options = ort.SessionOptions()
options.intra_op_num_threads = 2
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
features = json.loads(meta["feature_names"])
columns = json.loads(meta["output_columns"])
dtype = np.float32 if meta["dtype"] == "float32" else np.float64
rows, in_ort = 0, 0.0
writer = None
for batch in pq.ParquetFile(data).iter_batches(batch_size=65536, columns=features):
    x = np.column_stack([batch.column(i).to_numpy() for i in range(batch.num_columns)]).astype(dtype)
    t = time.perf_counter()
    (z,) = session.run(["reduced"], {"features": x})
    in_ort += time.perf_counter() - t
    table = pa.table({name: z[:, j] for j, name in enumerate(columns)})
    if writer is None:
        writer = pq.ParquetWriter(out, table.schema)
    writer.write_table(table)
    rows += len(x)
writer.close()
total = time.perf_counter() - started
print(
    f"onnxruntime {ort.__version__} {meta['dtype']}: {total:.2f} s, {rows / total:,.0f} rows/s "
    f"(read, run, write Parquet); run calls alone {in_ort:.2f} s, {rows / in_ort:,.0f} rows/s"
)
