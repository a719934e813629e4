//! The `scale` step's keys, as the pipeline file writes them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ScaleParams {
    #[serde(default)]
    pub method: ScaleMethod,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMethod {
    None,
    Center,
    /// Zero mean, unit variance (population std, as scikit-learn's StandardScaler).
    #[default]
    Standard,
    /// Maps each feature's observed range onto [0, 1] (scikit-learn's MinMaxScaler).
    Minmax,
}

impl ScaleMethod {
    pub fn name(self) -> &'static str {
        match self {
            ScaleMethod::None => "none",
            ScaleMethod::Center => "center",
            ScaleMethod::Standard => "standard",
            ScaleMethod::Minmax => "minmax",
        }
    }
}
