//! Learning-rate schedules with PyTorch's semantics, applied once per epoch:
//! `StepLR` (lr₀ · γ^⌊e / step_size⌋), `CosineAnnealingLR` (its closed form,
//! η_min + (lr₀ − η_min)(1 + cos(π e / T_max)) / 2) and `ReduceLROnPlateau` (mode min,
//! relative threshold), whose state a checkpoint keeps so a resumed run follows the same
//! rates.

use serde::{Deserialize, Serialize};

use super::keys::Positive;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    Step,
    Cosine,
    Plateau,
}

/// `schedule:` as written; which keys go with which kind is checked at plan time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleParams {
    pub kind: ScheduleKind,
    /// step: epochs between decays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_size: Option<Positive>,
    /// step: the decay factor (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// cosine: the half period in epochs (default: `epochs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_max: Option<Positive>,
    /// cosine: the lowest rate (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_min: Option<f64>,
    /// plateau: the factor a rate is cut by (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// plateau: epochs without improvement before a cut (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<usize>,
    /// plateau: relative improvement that counts (default 1e-4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// plateau: epochs after a cut before counting again (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<usize>,
    /// plateau: the lowest rate (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_lr: Option<f64>,
}

impl ScheduleParams {
    /// Keys that do not go with its kind, and values out of range.
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut out = Vec::new();
        let given = [
            ("step_size", self.step_size.is_some(), ScheduleKind::Step),
            ("gamma", self.gamma.is_some(), ScheduleKind::Step),
            ("t_max", self.t_max.is_some(), ScheduleKind::Cosine),
            ("eta_min", self.eta_min.is_some(), ScheduleKind::Cosine),
            ("factor", self.factor.is_some(), ScheduleKind::Plateau),
            ("patience", self.patience.is_some(), ScheduleKind::Plateau),
            ("threshold", self.threshold.is_some(), ScheduleKind::Plateau),
            ("cooldown", self.cooldown.is_some(), ScheduleKind::Plateau),
            ("min_lr", self.min_lr.is_some(), ScheduleKind::Plateau),
        ];
        let name = |k: ScheduleKind| match k {
            ScheduleKind::Step => "step",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Plateau => "plateau",
        };
        for (key, present, kind) in given {
            if present && kind != self.kind {
                out.push(format!(
                    "{at}.schedule.{key} goes with kind: {}, not kind: {}",
                    name(kind),
                    name(self.kind)
                ));
            }
        }
        if self.kind == ScheduleKind::Step && self.step_size.is_none() {
            out.push(format!("{at}.schedule: kind: step needs step_size"));
        }
        let range =
            |key: &str, v: Option<f64>, ok: fn(f64) -> bool, what: &str, out: &mut Vec<String>| {
                if let Some(v) = v
                    && !ok(v)
                {
                    out.push(format!("{at}.schedule.{key} must be {what}, got {v}"));
                }
            };
        range(
            "gamma",
            self.gamma,
            |v| v > 0.0 && v <= 1.0,
            "in (0, 1]",
            &mut out,
        );
        range(
            "factor",
            self.factor,
            |v| v > 0.0 && v < 1.0,
            "in (0, 1)",
            &mut out,
        );
        range("eta_min", self.eta_min, |v| v >= 0.0, "0 or more", &mut out);
        range("min_lr", self.min_lr, |v| v >= 0.0, "0 or more", &mut out);
        range(
            "threshold",
            self.threshold,
            |v| v >= 0.0,
            "0 or more",
            &mut out,
        );
        out
    }

    /// The rate of 1-based `epoch` for the step and cosine schedules (PyTorch's rate
    /// after `epoch − 1` calls of `scheduler.step()`); None for plateau, whose rate
    /// follows the losses.
    pub fn rate(&self, base: f64, epoch: usize, epochs: usize) -> Option<f64> {
        let e = (epoch - 1) as f64;
        match self.kind {
            ScheduleKind::Step => {
                let size = self.step_size.map_or(1, |s| s.0);
                Some(base * self.gamma.unwrap_or(0.1).powi(((epoch - 1) / size) as i32))
            }
            ScheduleKind::Cosine => {
                let t_max = self.t_max.map_or(epochs, |t| t.0) as f64;
                let eta_min = self.eta_min.unwrap_or(0.0);
                Some(
                    eta_min
                        + (base - eta_min) * (1.0 + (std::f64::consts::PI * e / t_max).cos()) / 2.0,
                )
            }
            ScheduleKind::Plateau => None,
        }
    }
}

/// `ReduceLROnPlateau`'s state between epochs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Plateau {
    /// The lowest loss seen; None before the first epoch.
    pub best: Option<f64>,
    pub bad_epochs: usize,
    pub cooldown_left: usize,
}

impl Plateau {
    /// PyTorch's `step(metric)`: the next epoch's rate from this one's.
    pub fn observe(&mut self, p: &ScheduleParams, metric: f64, lr: f64) -> f64 {
        let threshold = p.threshold.unwrap_or(1e-4);
        if self
            .best
            .is_none_or(|best| metric < best * (1.0 - threshold))
        {
            self.best = Some(metric);
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.bad_epochs = 0;
        }
        if self.bad_epochs > p.patience.unwrap_or(10) {
            let new = (lr * p.factor.unwrap_or(0.1)).max(p.min_lr.unwrap_or(0.0));
            self.cooldown_left = p.cooldown.unwrap_or(0);
            self.bad_epochs = 0;
            if lr - new > 1e-8 {
                return new;
            }
        }
        lr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> serde_json::Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/training.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn floats(v: &serde_json::Value) -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    fn params(kind: ScheduleKind) -> ScheduleParams {
        ScheduleParams {
            kind,
            step_size: None,
            gamma: None,
            t_max: None,
            eta_min: None,
            factor: None,
            patience: None,
            threshold: None,
            cooldown: None,
            min_lr: None,
        }
    }

    /// StepLR, CosineAnnealingLR (past t_max too) and ReduceLROnPlateau (with patience,
    /// cooldown and a floor) epoch by epoch, as PyTorch gives them.
    #[test]
    fn schedules_match_pytorchs_rates() {
        let r = reference();
        let c = &r["step_lr"];
        let step = ScheduleParams {
            step_size: Some(Positive(c["step_size"].as_u64().unwrap() as usize)),
            gamma: c["gamma"].as_f64(),
            ..params(ScheduleKind::Step)
        };
        let c = &r["cosine"];
        let cosine = ScheduleParams {
            t_max: Some(Positive(c["t_max"].as_u64().unwrap() as usize)),
            eta_min: c["eta_min"].as_f64(),
            ..params(ScheduleKind::Cosine)
        };
        for (p, c) in [(step, &r["step_lr"]), (cosine, &r["cosine"])] {
            let want = floats(&c["lrs"]);
            for (e, w) in want.iter().enumerate() {
                let got = p.rate(c["lr"].as_f64().unwrap(), e + 1, 99).unwrap();
                assert!(
                    (got - w).abs() <= 1e-12 * w,
                    "{:?} epoch {}: {got} vs {w}",
                    p.kind,
                    e + 1
                );
            }
        }
        let c = &r["plateau"];
        let p = ScheduleParams {
            factor: c["factor"].as_f64(),
            patience: c["patience"].as_u64().map(|v| v as usize),
            threshold: c["threshold"].as_f64(),
            cooldown: c["cooldown"].as_u64().map(|v| v as usize),
            min_lr: c["min_lr"].as_f64(),
            ..params(ScheduleKind::Plateau)
        };
        let mut state = Plateau::default();
        let mut lr = c["lr"].as_f64().unwrap();
        for (e, (m, w)) in floats(&c["metrics"])
            .iter()
            .zip(floats(&c["lrs"]))
            .enumerate()
        {
            assert!(
                (lr - w).abs() <= 1e-12 * w,
                "plateau epoch {}: {lr} vs {w}",
                e + 1
            );
            lr = state.observe(&p, *m, lr);
        }
    }
}
