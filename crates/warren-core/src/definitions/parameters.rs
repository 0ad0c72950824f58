//! Runtime parameters in definitions. RabbitMQ keeps vhost limits as the
//! parameter `{"vhost": …, "component": "vhost-limits", "name": "limits",
//! "value": {"max-connections": 10}}`; Warren imports and exports those into
//! and from the vhosts' limits. Parameters of other components (federation,
//! shovels) are not acted on.

use serde_json::{json, Value};

use super::apply::{item_error, DefinitionsError};
use crate::broker::Broker;

/// The component of vhost limits.
pub const VHOST_LIMITS: &str = "vhost-limits";

/// The vhost-limits parameters of every vhost with a limit set (or of `vhost`).
pub(crate) fn export_vhost_limits(broker: &Broker, vhost: Option<&str>) -> Vec<Value> {
    broker
        .vhost_limits(vhost)
        .into_iter()
        .map(|(vhost, value)| {
            json!({"vhost": vhost, "component": VHOST_LIMITS, "name": "limits", "value": value})
        })
        .collect()
}

/// Applies the vhost-limits parameters of `params` (to `into_vhost` when
/// given, else to each parameter's vhost, else the default vhost).
pub(crate) fn import(
    broker: &Broker,
    params: &[Value],
    into_vhost: Option<&str>,
) -> Result<(), DefinitionsError> {
    for p in params {
        if p.get("component").and_then(Value::as_str) != Some(VHOST_LIMITS) {
            continue;
        }
        let vhost = into_vhost
            .or_else(|| p.get("vhost").and_then(Value::as_str))
            .unwrap_or(&broker.config.default_vhost);
        let value = p.get("value").unwrap_or(&Value::Null);
        broker
            .set_vhost_limits(vhost, value)
            .map_err(|e| item_error("parameter", VHOST_LIMITS, e))?;
    }
    Ok(())
}
