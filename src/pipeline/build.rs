//! Builds every stage of the live agent from the validated configuration and the model
//! registry. An agent whose store cannot open, whose devices cannot be polled or whose
//! broker settings are wrong must not start (and must not tell systemd it is ready). A model
//! that does not load is different: the line still needs its other models and rules, so the
//! live agent starts without it and raises `model_unavailable` (`super::degraded`); the
//! offline paths (`replay`, `evaluate`) still need every model.

use std::collections::HashMap;
use std::sync::Arc;

use crate::acquire::Acquire;
use crate::alert::AlertEngine;
use crate::config::Config;
use crate::features::{EngineSetup, FeatureEngine, FeatureSpec};
use crate::infer::{InferError, Registry, Service};
use crate::monitor::{ModelMonitor, ModelReference, Monitor};
use crate::publish::Publisher;
use crate::store::{Envelope, Outbox, Store};

/// Why the agent could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `[[devices]]` cannot be polled.
    #[error("acquire: {0}")]
    Acquire(#[from] crate::acquire::stage::AcquireError),
    /// A model's feature spec is refused.
    #[error("features: {0}")]
    Features(#[from] crate::features::LoadError),
    /// One or more models failed to load.
    #[error("models: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Models(Vec<InferError>),
    /// A model's drift reference is unreadable.
    #[error("drift reference of model {model}: {error}")]
    Reference {
        /// Model name.
        model: String,
        /// What is wrong.
        error: String,
    },
    /// The store cannot open.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// `[mqtt]` is unusable.
    #[error("mqtt: {0}")]
    Publish(#[from] crate::publish::PublishError),
}

/// The stage cores of the agent, ready to be wired.
pub struct Stages {
    /// Source: Modbus poller.
    pub acquire: Acquire,
    /// Feature engine.
    pub features: FeatureEngine,
    /// Inference over the registry.
    pub service: Service,
    /// Drift monitor.
    pub monitor: Monitor,
    /// Alert rules.
    pub alerts: AlertEngine,
    /// The sled store.
    pub store: Store,
    /// Models refused at start (name, why): their slots are empty until a reload loads them.
    pub refused: Vec<(String, InferError)>,
    /// The MQTT publisher draining the store's outbox.
    pub publisher: Publisher,
}

/// The parts of the agent that do not hold I/O: everything a reload may rebuild.
pub struct Logic {
    /// Feature specs of the enabled models.
    pub specs: Vec<FeatureSpec>,
    /// Drift monitor.
    pub monitor: Monitor,
    /// Alert rules.
    pub alerts: AlertEngine,
}

/// Feature specs, drift monitor and alert engine from `cfg` and the manifests on disk.
pub fn logic(cfg: &Config) -> Result<Logic, BuildError> {
    let specs = crate::features::load_specs_in(&cfg.models.folders())?;
    let alerts = AlertEngine::new(
        &cfg.alerts,
        &cfg.products,
        &cfg.agent.site,
        &cfg.agent.line,
        &band_inputs(&specs),
    );
    Ok(Logic {
        specs,
        monitor: monitor(cfg)?,
        alerts,
    })
}

/// The drift monitor: one per enabled model whose manifest carries a reference.
pub fn monitor(cfg: &Config) -> Result<Monitor, BuildError> {
    let mut monitors = Vec::new();
    for name in &cfg.models.enabled {
        let path = cfg.models.folder(name).join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| BuildError::Reference {
            model: name.clone(),
            error: format!("{}: {e}", path.display()),
        })?;
        match ModelReference::from_manifest_str(name, &text) {
            Ok(Some(r)) => monitors.push(ModelMonitor::new(r, &cfg.drift)),
            Ok(None) => {}
            Err(e) => {
                return Err(BuildError::Reference {
                    model: name.clone(),
                    error: e.to_string(),
                });
            }
        }
    }
    Ok(Monitor::new(monitors, cfg.drift.enabled))
}

/// The feature engine for `cfg` (its specs read from the models' manifests).
pub fn features(cfg: &Config) -> Result<FeatureEngine, BuildError> {
    let specs = crate::features::load_specs_in(&cfg.models.folders())?;
    Ok(FeatureEngine::new(&cfg.features, engine_setup(cfg), specs))
}

/// Load every model of `[models]`; the ones refused (name, why) leave their slot empty.
pub fn registry_degraded(cfg: &Config) -> (Arc<Registry>, Vec<(String, InferError)>) {
    let (reg, errors) = Registry::open(&cfg.models);
    // `open` reports the failures in `enabled` order; those are the empty slots.
    let empty = cfg.models.enabled.iter().filter(|n| reg.get(n).is_err());
    let refused = empty.cloned().zip(errors).collect();
    (Arc::new(reg), refused)
}

/// `cfg` without the models whose feature spec cannot be read (an unreadable or invalid
/// manifest): no vectors are built for them. A model whose manifest reads but whose ONNX
/// or golden rows are refused keeps its spec, so that a reload that loads it serves at once.
fn with_readable_specs(cfg: &Config) -> Config {
    let mut c = cfg.clone();
    c.models.enabled.retain(|name| {
        crate::features::load_specs_in(&[(name.clone(), cfg.models.folder(name))]).is_ok()
    });
    c
}

/// Load every model of `[models]`; any failure is an error (the offline pipeline needs all
/// of them). Shadow candidates are left out: offline runs score with the serving models only.
pub fn registry(cfg: &Config) -> Result<Arc<Registry>, BuildError> {
    let mut cfg = cfg.clone();
    for t in cfg.models.per_model.values_mut() {
        t.candidate = None;
    }
    let (reg, refused) = registry_degraded(&cfg);
    if refused.is_empty() {
        Ok(reg)
    } else {
        Err(BuildError::Models(
            refused.into_iter().map(|(_, e)| e).collect(),
        ))
    }
}

/// Every stage, from the validated configuration.
pub fn stages(cfg: &Config) -> Result<Stages, BuildError> {
    let acquire = Acquire::from_config(&cfg.devices)?;
    let (registry, refused) = registry_degraded(cfg);
    let readable = if refused.is_empty() {
        cfg.clone()
    } else {
        with_readable_specs(cfg)
    };
    let Logic {
        specs,
        monitor,
        alerts,
    } = logic(&readable)?;
    let features = FeatureEngine::new(&readable.features, engine_setup(&readable), specs);
    let service = Service::new(registry);
    let store = crate::store::open(&cfg.store, envelope(cfg))?;
    let publisher = Publisher::new(&cfg.mqtt, Outbox::new(store.clone()))?;
    Ok(Stages {
        acquire,
        features,
        service,
        monitor,
        alerts,
        store,
        publisher,
        refused,
    })
}

/// What the store needs to turn records into messages: the agent's identity and `[mqtt]`'s
/// topic settings.
pub fn envelope(cfg: &Config) -> Envelope {
    Envelope {
        site: cfg.agent.site.clone(),
        line: cfg.agent.line.clone(),
        topic_prefix: cfg.mqtt.topic_prefix.clone(),
        topics: cfg.mqtt.topics.clone(),
        max_message_bytes: usize::try_from(cfg.mqtt.max_message_bytes.get()).unwrap_or(usize::MAX),
    }
}

/// The alert rules' view of the models' inputs: each feature's signal, transform and window
/// (in samples; 0 for duration and batch windows), resolved from the feature specs.
pub fn band_inputs(specs: &[FeatureSpec]) -> Vec<crate::alert::ModelInputs> {
    specs
        .iter()
        .map(|s| crate::alert::ModelInputs {
            model: s.model.to_string(),
            inputs: s
                .entries
                .iter()
                .map(|e| crate::alert::BandInput {
                    feature: e.name.clone(),
                    signal: e.signal.clone(),
                    transform: e.transform.name().to_string(),
                    window: match e.window {
                        crate::features::Window::Samples(n) => n,
                        _ => 0,
                    },
                })
                .collect(),
        })
        .collect()
}

/// What the feature engine needs beyond `[features]`: product codes (`[[products]]`), the
/// default product (`[agent] product`) and each register's poll interval (`[[devices]]`).
pub fn engine_setup(cfg: &Config) -> EngineSetup {
    let mut poll_intervals = HashMap::new();
    for d in &cfg.devices {
        for r in &d.registers {
            poll_intervals.insert(r.name.clone(), d.poll_interval.get());
        }
    }
    EngineSetup {
        products: cfg
            .products
            .iter()
            .map(|p| (p.recipe_id, p.code.clone()))
            .collect(),
        default_product: cfg.agent.product.clone(),
        poll_intervals,
        default_poll: std::time::Duration::from_secs(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_inputs_carry_signal_transform_and_window_in_samples() {
        let spec = r#"{"name":"m","level":"sample","feature_spec_version":1,"features":[
            {"name":"t_mean","signal":"temperature","transform":"mean","window":60},
            {"name":"m_last","signal":"moisture","transform":"last","window":1}]}"#;
        let batch = r#"{"name":"q","level":"batch","feature_spec_version":1,"features":[
            {"name":"ph_mean","signal":"ph","transform":"mean","window":"batch"}]}"#;
        let specs = vec![
            FeatureSpec::from_manifest_str("m", spec).unwrap(),
            FeatureSpec::from_manifest_str("q", batch).unwrap(),
        ];
        let got = band_inputs(&specs);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].model, "q");
        assert_eq!(
            (&*got[1].inputs[0].signal, got[1].inputs[0].window),
            ("ph", 0),
            "a batch window counts as 0 samples"
        );
        assert_eq!(got[0].model, "m");
        let seen: Vec<(&str, &str, &str, usize)> = got[0]
            .inputs
            .iter()
            .map(|i| (&*i.feature, &*i.signal, &*i.transform, i.window))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("t_mean", "temperature", "mean", 60),
                ("m_last", "moisture", "last", 1),
            ]
        );
    }
}
