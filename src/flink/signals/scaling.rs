//! The Flink Kubernetes operator's autoscaler formulas, applied to one vertex: true processing
//! rate, suggested parallelism with key-group alignment, and whether the autoscaler would act.
//!
//! Owns: [`Demand`] (the job's demand relative to what its sources read now) and [`suggest`].
//! Does not own: the inputs (the vertex's load and rates come from `eval`).
//!
//! Sources: apache/flink-kubernetes-operator `ScalingMetricEvaluator`, `JobVertexScaler`,
//! `AutoScalerUtils` (release-1.15.0), as summarised in `../shared/FLINK-SIGNALS.md` §3.

use super::eval::VertexEval;
use super::SignalsConfig;

/// The job's demand relative to what its sources read now (FLINK-SIGNALS.md §3, pushgate
/// proposal: no DAG is pushed, so every vertex's demand scales like the sources').
pub struct Demand {
    /// Backlog to catch up, per record read now: `(lag / catch_up) / source_rate`.
    catch_up: f64,
    /// Target rate per record read now: `1 + lag_growth / source_rate`.
    target: f64,
}

impl Demand {
    /// The demand of a job whose vertices (with their window-mean load) are `vertices`.
    #[must_use]
    pub fn of(vertices: &[(VertexEval, Option<f64>)], cfg: &SignalsConfig) -> Demand {
        let sources = || vertices.iter().filter_map(|(v, _)| v.source);
        let rate: f64 = sources().map(|s| s.consume_rate).sum();
        let lag: f64 = sources().filter_map(|s| s.lag_records).sum();
        let growth: f64 = sources().filter_map(|s| s.lag_growth).sum();
        if rate > 0.0 {
            Demand {
                catch_up: lag / cfg.catch_up_seconds / rate,
                target: (1.0 + growth / rate).max(0.0),
            }
        } else {
            Demand {
                catch_up: 0.0,
                target: 1.0,
            }
        }
    }
}

/// The autoscaler's true processing rate and parallelism for `v` (`ScalingMetricEvaluator`,
/// `JobVertexScaler`, `AutoScalerUtils`): `TPR = rate / LOAD`; `factor = (catchUp + target *
/// (restart/catchUpTime + 1/targetUtilisation)) / TPR`, clamped to [0.4, 100001];
/// `p = ceil(P * factor)` within [1, max(P, 200)], then aligned to a divisor of the key
/// groups for keyed (non-source) vertices. Without load (no records in) the advice is `P`.
pub fn suggest(v: &mut VertexEval, load: Option<f64>, demand: &Demand, cfg: &SignalsConfig) {
    let p = v.parallelism.max(1);
    v.suggested_parallelism = p;
    let Some(load) = load.filter(|_| v.input_rate > 0.0) else {
        return;
    };
    v.true_processing_rate = Some(if load > 0.0 {
        v.input_rate / load
    } else {
        f64::INFINITY
    });
    let headroom = cfg.restart_seconds / cfg.catch_up_seconds + 1.0 / cfg.target_utilization;
    let factor = (load * (demand.catch_up + demand.target * headroom)).clamp(0.4, 100_001.0);
    let upper = p.max(200);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped to [1, upper] before the cast"
    )]
    let raw = (f64::from(p) * factor).ceil().clamp(1.0, f64::from(upper)) as u32;
    v.suggested_parallelism = if v.source.is_some() {
        raw
    } else {
        align(raw, p, cfg.key_groups, upper)
    };
    // The band the autoscaler acts outside of: utilisation max 1.0 without restart, min 0.4
    // with it (`computeProcessingRateThresholds`), in units of the vertex's load.
    let need = demand.catch_up + demand.target;
    let slack =
        demand.catch_up + demand.target * (cfg.restart_seconds / cfg.catch_up_seconds + 2.5);
    v.outside_band = load * need > 1.0 || (load > 0.0 && 1.0 / load > slack) || load == 0.0;
}

/// The autoscaler's `EVENLY_SPREAD` alignment: the smallest `q >= p` that divides the key
/// groups, searched up to them (scale up) or to the current parallelism (scale down); `p`
/// when none does.
fn align(p: u32, current: u32, key_groups: u32, upper: u32) -> u32 {
    let end = if p > current {
        key_groups.min(upper)
    } else {
        key_groups.min(upper).min(current)
    };
    (p..=end).find(|q| key_groups % q == 0).unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flink::signals::Level;

    #[test]
    fn alignment_picks_a_divisor_of_the_key_groups() {
        assert_eq!(align(6, 4, 128, 200), 8);
        assert_eq!(align(3, 2, 128, 200), 4);
        assert_eq!(align(1, 2, 128, 200), 1);
        assert_eq!(align(3, 4, 128, 200), 4);
        assert_eq!(align(129, 100, 128, 200), 129);
    }

    #[test]
    fn the_worked_autoscaler_example_gives_eight() {
        // FLINK-SIGNALS.md §3: no lag, P = 4, LOAD 0.9 -> 6 -> aligned to 8 of 128.
        let mut v = VertexEval {
            task_id: "t".into(),
            task_name: "t".into(),
            parallelism: 4,
            busy_ratio: Some(0.9),
            busy_ratio_avg: Some(0.9),
            backpressure_ratio: 0.0,
            idle_ratio_avg: Some(0.1),
            backpressure_level: Level::Ok,
            bottleneck: false,
            hot_subtask: None,
            input_rate: 100.0,
            true_processing_rate: None,
            suggested_parallelism: 0,
            outside_band: false,
            source: None,
        };
        let demand = Demand {
            catch_up: 0.0,
            target: 1.0,
        };
        suggest(&mut v, Some(0.9), &demand, &SignalsConfig::default());
        assert_eq!(v.suggested_parallelism, 8);
        assert!(!v.outside_band, "LOAD 0.9 is inside the band");
        let tpr = v.true_processing_rate.expect("a rate");
        assert!((tpr - 100.0 / 0.9).abs() < 1e-9);
    }
}
