//! Operators' changes to vhost limits (management API, `warren ctl`,
//! definitions import): validated, applied to the vhost, persisted.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::broker::Broker;
use crate::vhost_limits::{parse_limits, LimitError, LimitName};

impl Broker {
    fn limits_of(&self, vhost: &str) -> Result<Arc<crate::VHost>, LimitError> {
        self.vhost(vhost)
            .ok_or_else(|| LimitError::NoVHost(vhost.to_string()))
    }

    /// Sets one limit of a vhost (`PUT /api/vhost-limits/{vhost}/{name}`);
    /// a negative value removes it. Persisted.
    pub fn set_vhost_limit(&self, vhost: &str, name: &str, value: i64) -> Result<(), LimitError> {
        let name = LimitName::parse(name)?;
        self.limits_of(vhost)?.limits.set_limit(name, value);
        self.save_access();
        Ok(())
    }

    /// Replaces all limits of a vhost with `value`, a JSON object (as
    /// `rabbitmqctl set_vhost_limits` and the `vhost-limits` runtime
    /// parameter): limits it does not name are removed. Persisted.
    pub fn set_vhost_limits(&self, vhost: &str, value: &Value) -> Result<(), LimitError> {
        let limits = parse_limits(value)?;
        let v = self.limits_of(vhost)?;
        v.limits.clear();
        for (name, n) in limits {
            v.limits.set_limit(name, n);
        }
        self.save_access();
        Ok(())
    }

    /// Removes one limit of a vhost (no error if it was not set). Persisted.
    pub fn clear_vhost_limit(&self, vhost: &str, name: &str) -> Result<(), LimitError> {
        self.set_vhost_limit(vhost, name, -1)
    }

    /// The vhosts with at least one limit set, sorted by name, with their
    /// limits as RabbitMQ shows them (`{"max-connections": 10}`); only `vhost`
    /// when given.
    pub fn vhost_limits(&self, vhost: Option<&str>) -> Vec<(String, Map<String, Value>)> {
        let mut out: Vec<_> = self
            .vhosts()
            .iter()
            .filter(|v| vhost.is_none_or(|name| &*v.name == name))
            .filter_map(|v| Some((v.name.to_string(), v.limits.to_json()?)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
