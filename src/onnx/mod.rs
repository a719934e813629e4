//! ONNX graphs of standard-domain operators, built node by node and encoded with prost.
//! Each fitted step adds its own nodes (`FittedStep::onnx`); this module knows tensors,
//! names and the file format, not steps.

pub mod proto;

use std::collections::BTreeSet;

use prost::Message;

use proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto,
};

/// The opset written when none is asked for: ReduceSum and Squeeze take their axes as
/// inputs from 13 on, and 17 is read by every ONNX Runtime of the last three years.
pub const DEFAULT_OPSET: i64 = 17;
/// The opsets dimred writes: every operator it uses has the same signature in all of them.
pub const OPSETS: std::ops::RangeInclusive<i64> = 13..=21;

/// The element type of a graph's input, outputs and constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    Float32,
    Float64,
}

impl DType {
    /// `TensorProto.DataType`.
    fn code(self) -> i32 {
        match self {
            DType::Float32 => 1,
            DType::Float64 => 11,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::Float32 => "float32",
            DType::Float64 => "float64",
        }
    }
}

const INT64: i32 = 7;

/// A node attribute.
#[derive(Debug, Clone)]
pub enum Attr {
    Int(&'static str, i64),
    Float(&'static str, f32),
    Ints(&'static str, Vec<i64>),
}

/// A graph being built: nodes in order, constants as initializers, every tensor name
/// unique.
#[derive(Debug)]
pub struct Graph {
    dtype: DType,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    names: BTreeSet<String>,
}

/// A graph input or output: its name, element type and shape (`None` is the row count,
/// named `N`).
#[derive(Debug, Clone)]
pub struct Port {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<Option<usize>>,
    pub doc: String,
}

impl Graph {
    pub fn new(dtype: DType) -> Graph {
        Graph {
            dtype,
            nodes: Vec::new(),
            initializers: Vec::new(),
            names: BTreeSet::new(),
        }
    }

    /// The element type of the graph's input and outputs.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// `hint`, or `hint_2`, `hint_3`… when taken.
    fn fresh(&mut self, hint: &str) -> String {
        let mut name = hint.to_string();
        let mut n = 1;
        while self.names.contains(&name) {
            n += 1;
            name = format!("{hint}_{n}");
        }
        self.names.insert(name.clone());
        name
    }

    /// Reserves a name the caller gives a tensor (a graph input).
    pub fn reserve(&mut self, name: &str) -> String {
        self.fresh(name)
    }

    /// A constant of type `dtype` with `dims`, row-major `values` (rounded to f32 in a
    /// float32 constant).
    pub fn constant_as(
        &mut self,
        hint: &str,
        dims: &[usize],
        values: &[f64],
        dtype: DType,
    ) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        let raw_data = match dtype {
            DType::Float32 => values
                .iter()
                .flat_map(|v| (*v as f32).to_le_bytes())
                .collect(),
            DType::Float64 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        self.push_constant(hint, dims, dtype.code(), raw_data)
    }

    /// A constant of the graph's type.
    pub fn constant(&mut self, hint: &str, dims: &[usize], values: &[f64]) -> String {
        self.constant_as(hint, dims, values, self.dtype)
    }

    /// A rows × cols constant of the graph's type whose (i, j) value is `f(i, j)`.
    pub fn matrix(
        &mut self,
        hint: &str,
        rows: usize,
        cols: usize,
        f: impl Fn(usize, usize) -> f64,
    ) -> String {
        let values: Vec<f64> = (0..rows)
            .flat_map(|i| (0..cols).map(move |j| (i, j)))
            .map(|(i, j)| f(i, j))
            .collect();
        self.constant(hint, &[rows, cols], &values)
    }

    /// An int64 constant (indices, axes).
    pub fn constant_i64(&mut self, hint: &str, dims: &[usize], values: &[i64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.push_constant(hint, dims, INT64, raw)
    }

    fn push_constant(
        &mut self,
        hint: &str,
        dims: &[usize],
        code: i32,
        raw_data: Vec<u8>,
    ) -> String {
        let name = self.fresh(hint);
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: code,
            name: name.clone(),
            raw_data,
        });
        name
    }

    /// A node of `op` on `inputs`; returns its output's name.
    pub fn node(&mut self, op: &str, inputs: &[&str]) -> String {
        self.node_with(op, inputs, &[])
    }

    pub fn node_with(&mut self, op: &str, inputs: &[&str], attrs: &[Attr]) -> String {
        let output = self.fresh(&op.to_lowercase());
        self.push_node(op, inputs, attrs, output.clone());
        output
    }

    /// A node whose output has the given name (a graph output's, from `reserve`).
    pub fn node_named(&mut self, op: &str, inputs: &[&str], attrs: &[Attr], output: &str) {
        debug_assert!(self.names.contains(output));
        self.push_node(op, inputs, attrs, output.to_string());
    }

    fn push_node(&mut self, op: &str, inputs: &[&str], attrs: &[Attr], output: String) {
        let attribute = attrs
            .iter()
            .map(|a| match a {
                Attr::Int(name, v) => AttributeProto {
                    name: (*name).into(),
                    i: Some(*v),
                    r#type: 2,
                    ..Default::default()
                },
                Attr::Float(name, v) => AttributeProto {
                    name: (*name).into(),
                    f: Some(*v),
                    r#type: 1,
                    ..Default::default()
                },
                Attr::Ints(name, v) => AttributeProto {
                    name: (*name).into(),
                    ints: v.clone(),
                    r#type: 7,
                    ..Default::default()
                },
            })
            .collect();
        let name = format!("{}_{}", op, self.nodes.len());
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output],
            name,
            op_type: op.into(),
            attribute,
            domain: String::new(),
        });
    }

    /// `x` as `to`, or `x` itself when it already is (the graph's type is `from`).
    pub fn cast(&mut self, x: &str, from: DType, to: DType) -> String {
        if from == to {
            return x.to_string();
        }
        self.node_with("Cast", &[x], &[Attr::Int("to", to.code() as i64)])
    }

    /// Σⱼ r²ᵢⱼ for each row i of `r`: `Mul`, then `ReduceSum` over axis 1.
    pub fn row_sum_of_squares(&mut self, r: &str) -> String {
        let squares = self.node("Mul", &[r, r]);
        let axes = self.constant_i64("axis_1", &[1], &[1]);
        self.node_with("ReduceSum", &[&squares, &axes], &[Attr::Int("keepdims", 0)])
    }

    /// The whole model as ONNX bytes.
    pub fn encode(
        self,
        inputs: &[Port],
        outputs: &[Port],
        metadata: &[(String, String)],
        opset: i64,
        doc: &str,
    ) -> Vec<u8> {
        let model = ModelProto {
            ir_version: ir_version(opset),
            producer_name: "dimred".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            domain: String::new(),
            model_version: 1,
            doc_string: doc.into(),
            graph: Some(GraphProto {
                node: self.nodes,
                name: "dimred".into(),
                initializer: self.initializers,
                doc_string: String::new(),
                input: inputs.iter().map(value_info).collect(),
                output: outputs.iter().map(value_info).collect(),
            }),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            }],
            metadata_props: metadata
                .iter()
                .map(|(key, value)| StringStringEntryProto {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        };
        model.encode_to_vec()
    }
}

/// The IR version ONNX released with each opset (onnx/helper.py's VERSION_TABLE), so that
/// a runtime that reads the opset reads the file.
fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        _ => 10,
    }
}

fn value_info(port: &Port) -> ValueInfoProto {
    ValueInfoProto {
        name: port.name.clone(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: port.dtype.code(),
                shape: Some(TensorShapeProto {
                    dim: port
                        .shape
                        .iter()
                        .map(|d| match d {
                            Some(n) => Dimension {
                                dim_value: Some(*n as i64),
                                dim_param: None,
                            },
                            None => Dimension {
                                dim_value: None,
                                dim_param: Some("N".into()),
                            },
                        })
                        .collect(),
                }),
            }),
        }),
        doc_string: port.doc.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_unique_and_constants_are_little_endian() {
        let mut g = Graph::new(DType::Float64);
        let x = g.reserve("features");
        let a = g.constant("mean_", &[2], &[1.0, -2.5]);
        let b = g.constant("mean_", &[2], &[0.0, 0.0]);
        assert_eq!((a.as_str(), b.as_str()), ("mean_", "mean__2"));
        let y = g.node("Sub", &[&x, &a]);
        assert_eq!(y, "sub");
        assert_eq!(g.initializers[0].raw_data[..8], 1.0f64.to_le_bytes());
        let mut f = Graph::new(DType::Float32);
        let c = f.constant("c", &[1], &[0.1]);
        assert_eq!(f.initializers[0].raw_data, 0.1f32.to_le_bytes());
        assert_eq!(f.initializers[0].data_type, 1);
        assert_eq!(c, "c");
    }

    #[test]
    fn encoded_model_decodes_to_the_same_message() {
        let mut g = Graph::new(DType::Float32);
        let x = g.reserve("x");
        let y = g.node_with("Selu", &[&x], &[Attr::Float("alpha", 1.5)]);
        g.reserve("out");
        g.node_named("Identity", &[&y], &[], "out");
        let port = |name: &str| Port {
            name: name.into(),
            dtype: DType::Float32,
            shape: vec![None, Some(3)],
            doc: String::new(),
        };
        let bytes = g.encode(&[port("x")], &[port("out")], &[], 17, "");
        let model = ModelProto::decode(bytes.as_slice()).unwrap();
        assert_eq!(model.ir_version, 8);
        let graph = model.graph.unwrap();
        assert_eq!(graph.node[0].op_type, "Selu");
        assert_eq!(graph.node[0].attribute[0].f, Some(1.5));
        assert_eq!(graph.node[1].output, ["out"]);
        let dims = &graph.input[0].r#type.as_ref().unwrap();
        let dims = &dims
            .tensor_type
            .as_ref()
            .unwrap()
            .shape
            .as_ref()
            .unwrap()
            .dim;
        assert_eq!(dims[0].dim_param.as_deref(), Some("N"));
        assert_eq!(dims[1].dim_value, Some(3));
    }
}
