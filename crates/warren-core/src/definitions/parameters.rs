//! Runtime parameters in definitions. RabbitMQ keeps vhost limits as the
//! parameter `{"vhost": …, "component": "vhost-limits", "name": "limits",
//! "value": {"max-connections": 10}}`; Warren imports and exports those into
//! and from the vhosts' limits. A parameter of any other component
//! (federation-upstream, shovel, …: plugins Warren does not have) refuses the
//! whole import before anything is applied, as RabbitMQ without the plugin
//! refuses it ("Validation failed … component federation-upstream not found").

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

/// Refuses parameters of components Warren does not implement, naming each
/// as RabbitMQ does (`component X not found (vhost/X/name)`).
pub(crate) fn validate(params: &[Value]) -> Result<(), DefinitionsError> {
    let unknown: Vec<String> = params
        .iter()
        .filter_map(|p| {
            let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
            let component = field("component");
            (component != VHOST_LIMITS).then(|| {
                format!(
                    "component {component} not found ({}/{component}/{})",
                    field("vhost"),
                    field("name")
                )
            })
        })
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let first = params
        .iter()
        .filter_map(|p| p.get("component").and_then(Value::as_str))
        .find(|c| *c != VHOST_LIMITS)
        .unwrap_or("");
    Err(item_error(
        "parameter",
        first,
        format!(
            "Validation failed: {} (Warren implements no federation, shovel or other plugin parameters; only vhost-limits)",
            unknown.join("; ")
        ),
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_components_are_named_as_rabbitmq_names_them() {
        let limits =
            json!({"vhost": "/", "component": VHOST_LIMITS, "name": "limits", "value": {}});
        assert!(validate(std::slice::from_ref(&limits)).is_ok());
        let fed =
            json!({"vhost": "/", "component": "federation-upstream", "name": "up1", "value": {}});
        let shovel = json!({"vhost": "v", "component": "shovel", "name": "s", "value": {}});
        let text = validate(&[limits, fed, shovel]).unwrap_err().to_string();
        assert!(
            text.contains("component federation-upstream not found (//federation-upstream/up1)"),
            "{text}"
        );
        assert!(
            text.contains("component shovel not found (v/shovel/s)"),
            "{text}"
        );
    }
}
