//! What a new configuration changes, section by section, and how the running agent takes
//! each change (used by [`super::reload`]):
//!
//! | section | taken how |
//! |---|---|
//! | `[log] level` | live: the log filter is swapped |
//! | `[alerts]`, `[[products]]` | live: the alert engine takes the new rules in place (open alerts keep their ids) |
//! | `[drift]` | live: the drift monitor is rebuilt (its current windows restart) |
//! | `[features]`, `[[products]]`, `[agent] product`, device poll intervals | live: the feature engine is rebuilt (its windows refill) |
//! | `[models] watch` | live |
//! | `[models.<name>]` (`folder`, `candidate`) | live: the registry takes the folders, then reloads every model and candidate (docs/shadow.md) |
//! | `[fleet]` except `health_report` | live: read by each install, rollback and health window |
//! | `[[devices]]` | the acquire stage restarts (samples already read still drain) |
//! | `[mqtt]`, or the content of a file it names (`password_file`, `ca_file`, `client_cert_file`, `client_key_file`) | the publisher restarts (undelivered messages wait in the sled outbox) |
//! | `[store]`, `[metrics]`, `[log] format`, `[agent] site/line/wait_for_time_sync`, `[models]` dir/installed_dir/enabled/optimize/verify_golden, `[fleet] health_report`, `[mqtt.topics.signals]`, `[sparkplug]`, `[capture]` | need a process restart: reported, not applied |
//!
//! Pure functions of two [`Config`]s (and, for the files `[mqtt]` names, two sets of
//! [`SecretDigests`]), so every row of the table is unit-tested.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::Config;
use crate::publish::secrets::SecretDigests;

/// The differences between the running configuration and a new one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// `[log] level`.
    pub log_level: bool,
    /// `[alerts]` or `[[products]]`: the alert engine takes new rules.
    pub alerts: bool,
    /// `[drift]`: the monitor is rebuilt.
    pub drift: bool,
    /// The feature engine is rebuilt.
    pub features: bool,
    /// `[models] watch`.
    pub model_watch: bool,
    /// `[models.<name>]` tables (serving folders, shadow candidates).
    pub model_tables: bool,
    /// `[[devices]]`: acquire restarts.
    pub devices: bool,
    /// `[mqtt]` or the content of a file it names: the publisher restarts.
    pub mqtt: bool,
    /// `[mqtt]` keys whose file has new content (a rotated password, key or certificate).
    pub secrets: Vec<&'static str>,
    /// Changed keys that only a process restart applies (kept at their running values).
    pub need_restart: Vec<&'static str>,
}

impl Changes {
    /// Nothing differs.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }

    /// Count the `[mqtt]` files whose content differs between `old` and `new` as an `[mqtt]`
    /// change, so the publisher restarts and reads them again.
    pub fn with_secrets(mut self, old: &SecretDigests, new: &SecretDigests) -> Self {
        self.secrets = new.changed(old).iter().map(|f| f.key).collect();
        self.mqtt |= !self.secrets.is_empty();
        self
    }

    /// Names of the parts applied live, for the reload summary.
    pub fn live(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (on, name) in [
            (self.log_level, "log.level"),
            (self.alerts, "alerts"),
            (self.drift, "drift"),
            (self.features, "features"),
            (self.model_watch, "models.watch"),
            (self.model_tables, "models.<name>"),
        ] {
            if on {
                v.push(name);
            }
        }
        v
    }

    /// Names of the stages restarted, for the reload summary.
    pub fn restarted(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.devices {
            v.push("acquire");
        }
        if self.mqtt {
            v.push("publish");
        }
        v
    }
}

/// Register name → poll interval of its device (what the feature engine's staleness uses).
fn poll_intervals(cfg: &Config) -> BTreeMap<&str, Duration> {
    cfg.devices
        .iter()
        .flat_map(|d| {
            d.registers
                .iter()
                .map(|r| (r.name.as_str(), d.poll_interval.get()))
        })
        .collect()
}

/// Compare the running configuration with a new one.
pub fn diff(old: &Config, new: &Config) -> Changes {
    let mut need_restart = Vec::new();
    let mut restart_if = |changed: bool, key: &'static str| {
        if changed {
            need_restart.push(key);
        }
    };
    restart_if(old.store != new.store, "store");
    restart_if(old.metrics != new.metrics, "metrics");
    restart_if(old.log.format != new.log.format, "log.format");
    restart_if(old.agent.site != new.agent.site, "agent.site");
    restart_if(old.agent.line != new.agent.line, "agent.line");
    restart_if(
        old.agent.wait_for_time_sync != new.agent.wait_for_time_sync,
        "agent.wait_for_time_sync",
    );
    let (om, nm) = (&old.models, &new.models);
    restart_if(om.dir != nm.dir, "models.dir");
    restart_if(om.installed_dir != nm.installed_dir, "models.installed_dir");
    restart_if(
        old.fleet.health_report != new.fleet.health_report,
        "fleet.health_report",
    );
    restart_if(om.enabled != nm.enabled, "models.enabled");
    restart_if(om.optimize != nm.optimize, "models.optimize");
    restart_if(om.verify_golden != nm.verify_golden, "models.verify_golden");
    let (os, ns) = (&old.mqtt.topics.signals, &new.mqtt.topics.signals);
    restart_if(os != ns, "mqtt.topics.signals");
    restart_if(old.sparkplug != new.sparkplug, "sparkplug");
    restart_if(old.capture != new.capture, "capture");
    Changes {
        log_level: old.log.level != new.log.level,
        alerts: old.alerts != new.alerts || old.products != new.products,
        drift: old.drift != new.drift,
        features: old.features != new.features
            || old.products != new.products
            || old.agent.product != new.agent.product
            || poll_intervals(old) != poll_intervals(new),
        model_watch: om.watch != nm.watch,
        model_tables: om.per_model != nm.per_model,
        devices: old.devices != new.devices,
        mqtt: mqtt_but_signals(old) != mqtt_but_signals(new),
        secrets: Vec::new(),
        need_restart,
    }
}

/// The configuration that runs after a reload: `new`, except for the keys that need a
/// process restart, which keep their running values (so the next reload compares against
/// what actually runs).
pub fn running(old: &Config, new: &Config) -> Config {
    let mut c = new.clone();
    c.store = old.store.clone();
    c.metrics = old.metrics.clone();
    c.log.format = old.log.format;
    c.agent.site = old.agent.site.clone();
    c.agent.line = old.agent.line.clone();
    c.models.dir = old.models.dir.clone();
    c.models.installed_dir = old.models.installed_dir.clone();
    c.fleet.health_report = old.fleet.health_report;
    c.models.enabled = old.models.enabled.clone();
    c.models.optimize = old.models.optimize;
    c.models.verify_golden = old.models.verify_golden;
    c.mqtt.topics.signals = old.mqtt.topics.signals.clone();
    c.sparkplug = old.sparkplug.clone();
    c.capture = old.capture.clone();
    c
}

/// `[mqtt]` without `[mqtt.topics.signals]`, which only a restart applies (the tap between
/// acquire and features is built at start).
fn mqtt_but_signals(c: &Config) -> crate::publish::config::MqttConfig {
    let mut m = c.mqtt.clone();
    m.topics.signals = Default::default();
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::valid;

    #[test]
    fn identical_configs_change_nothing() {
        let c = valid();
        assert!(diff(&c, &c.clone()).is_empty());
    }

    #[test]
    fn each_section_lands_in_its_row() {
        let old = valid();
        let mut new = old.clone();
        new.alerts.fat_bloom_risk.raise = 0.9;
        let d = diff(&old, &new);
        assert!(d.alerts && !d.features && !d.devices, "{d:?}");
        assert_eq!(d.live(), vec!["alerts"]);

        let mut new = old.clone();
        new.log.level = "debug".into();
        assert_eq!(diff(&old, &new).live(), vec!["log.level"]);

        let mut new = old.clone();
        new.drift.min_window_samples = 50;
        assert_eq!(diff(&old, &new).live(), vec!["drift"]);

        let mut new = old.clone();
        new.features.spike_k = 5.0;
        assert_eq!(diff(&old, &new).live(), vec!["features"]);

        let mut new = old.clone();
        new.mqtt.client_id = "other".into();
        let d = diff(&old, &new);
        assert_eq!(d.restarted(), vec!["publish"]);
        assert!(d.live().is_empty());

        let mut new = old.clone();
        new.store.max_bytes = crate::config::ByteSize(1 << 20);
        new.agent.site = "elsewhere".into();
        assert_eq!(diff(&old, &new).need_restart, vec!["store", "agent.site"]);

        let mut new = old.clone();
        new.models.installed_dir = Some("/var/lib/chocoline/models".into());
        new.fleet.allow_downgrade = true;
        let d = diff(&old, &new);
        assert_eq!(d.need_restart, vec!["models.installed_dir"]);
        assert!(d.live().is_empty() && d.restarted().is_empty(), "{d:?}");
        assert_eq!(running(&old, &new).models.installed_dir, None);

        let mut new = old.clone();
        new.models.per_model.insert(
            "bloom".into(),
            crate::infer::config::ModelSettings {
                folder: None,
                candidate: Some("/srv/bloom-next".into()),
            },
        );
        let d = diff(&old, &new);
        assert_eq!(d.live(), vec!["models.<name>"]);
        assert!(d.need_restart.is_empty(), "{d:?}");
        assert_eq!(running(&old, &new).models.per_model, new.models.per_model);
    }

    #[test]
    fn a_device_change_restarts_acquire_and_a_new_poll_interval_rebuilds_features() {
        let old = valid();
        let mut new = old.clone();
        new.devices[0].timeout = crate::config::Duration::from_millis(300);
        let d = diff(&old, &new);
        assert_eq!(d.restarted(), vec!["acquire"]);
        assert!(!d.features, "same poll intervals: {d:?}");
        new.devices[0].poll_interval = crate::config::Duration::from_secs(2);
        new.devices[0].timeout = crate::config::Duration::from_millis(500);
        assert!(diff(&old, &new).features);
    }

    #[test]
    fn running_keeps_what_needs_a_restart() {
        let old = valid();
        let mut new = old.clone();
        new.agent.site = "elsewhere".into();
        new.alerts.gritty.raise = 99.0;
        let r = running(&old, &new);
        assert_eq!(r.agent.site, old.agent.site);
        assert_eq!(r.alerts.gritty.raise, 99.0);
        assert!(diff(&r, &new).need_restart == vec!["agent.site"]);
    }

    #[test]
    fn signals_need_a_restart_and_do_not_restart_the_publisher() {
        let old = valid();
        let mut new = old.clone();
        new.mqtt.topics.signals.enabled = true;
        new.mqtt.topics.signals.deadband = 0.2;
        let d = diff(&old, &new);
        assert_eq!(d.need_restart, vec!["mqtt.topics.signals"]);
        assert!(!d.mqtt, "only signals changed: {d:?}");
        let r = running(&old, &new);
        assert!(!r.mqtt.topics.signals.enabled, "kept at its running value");
        new.mqtt.keep_alive = crate::settings::units::Duration::from_secs(5);
        assert!(
            diff(&old, &new).mqtt,
            "another [mqtt] key still restarts the publisher"
        );
    }

    /// Issue #22 point 4: a password rotated inside `password_file` (or a new TLS key or
    /// certificate) leaves the TOML as it was; it must still restart the publisher, and the
    /// publisher built for the reload must carry the new password.
    #[test]
    fn a_rotated_secret_file_restarts_the_publisher_with_its_new_content() {
        use crate::publish::options::mqtt_options;
        use crate::store::Envelope;
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        let key = dir.path().join("client.key");
        std::fs::write(&pw, "old-secret\n").unwrap();
        std::fs::write(&key, "key one").unwrap();
        #[cfg(unix)]
        for p in [&pw, &key] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut old = valid();
        old.mqtt.username = Some("agent".into());
        old.mqtt.password_file = Some(pw.clone());
        old.mqtt.client_key_file = Some(key.clone());
        let new = old.clone();
        let before = SecretDigests::read(&old.mqtt).unwrap();
        let same = SecretDigests::read(&new.mqtt).unwrap();
        assert!(diff(&old, &new).with_secrets(&before, &same).is_empty());

        std::fs::write(&pw, "new-secret\n").unwrap();
        let after = SecretDigests::read(&new.mqtt).unwrap();
        let d = diff(&old, &new).with_secrets(&before, &after);
        assert!(d.mqtt, "{d:?}");
        assert_eq!(d.secrets, vec!["password_file"]);
        assert_eq!(d.restarted(), vec!["publish"]);
        let env = Envelope {
            site: "s".into(),
            line: "l".into(),
            topic_prefix: "p".into(),
            topics: Default::default(),
            max_message_bytes: crate::publish::config::DEFAULT_MAX_MESSAGE_BYTES,
        };
        let mut mqtt = new.mqtt.clone();
        mqtt.client_key_file = None;
        let login = mqtt_options(&mqtt, &env, 8).unwrap().credentials().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("agent", "new-secret")
        );

        std::fs::write(&key, "key two").unwrap();
        let rotated = SecretDigests::read(&new.mqtt).unwrap();
        let d = diff(&old, &new).with_secrets(&after, &rotated);
        assert_eq!(d.secrets, vec!["client_key_file"]);
        assert_eq!(d.restarted(), vec!["publish"]);
    }
}
