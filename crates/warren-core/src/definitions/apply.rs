//! Exporting a broker's definitions and importing a definitions document.

use serde_json::Value;

use super::json::{json_to_table, table_to_json};
use super::{
    BindingDef, Definitions, ExchangeDef, PermissionDef, QueueDef, TopicPermissionDef, UserDef,
    VHostDef,
};
use crate::auth::{Permission, TopicPermission};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::exchange::Destination;
use crate::names::{preview, MAX_NAME_BYTES};
use crate::value::Table;
use crate::vhost::{ExchangeDeclare, QueueDeclare, VHost};

/// Why an import failed (the management API answers 400 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionsError {
    /// The document is not valid JSON of the expected shape.
    #[error("{0}")]
    Parse(String),
    /// An item could not be applied.
    #[error("{what} '{name}': {reason}")]
    Item {
        /// The kind of item ("queue", "user", …).
        what: &'static str,
        /// Its name.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

pub(super) fn item_error(
    what: &'static str,
    name: &str,
    reason: impl ToString,
) -> DefinitionsError {
    // A name too long for AMQP is shown by its start (the reason says why).
    let name = if name.len() > MAX_NAME_BYTES {
        preview(name)
    } else {
        name.to_string()
    };
    DefinitionsError::Item {
        what,
        name,
        reason: reason.to_string(),
    }
}

/// Exports everything (`vhost` None) or one vhost's queues, exchanges,
/// bindings and policies (without `vhost` fields, as RabbitMQ does).
pub fn export(broker: &Broker, vhost: Option<&str>) -> Definitions {
    let version = env!("CARGO_PKG_VERSION").to_string();
    let mut defs = Definitions {
        rabbit_version: Some(version.clone()),
        rabbitmq_version: Some(version.clone()),
        product_name: Some("Warren".into()),
        product_version: Some(version),
        ..Default::default()
    };
    let mut vhosts = broker.vhosts();
    vhosts.sort_by(|a, b| a.name.cmp(&b.name));
    vhosts.retain(|v| vhost.is_none_or(|name| &*v.name == name));
    if vhost.is_none() {
        export_access(broker, &mut defs);
    }
    defs.policies = broker.policies(vhost);
    defs.parameters = super::parameters::export_vhost_limits(broker, vhost);
    for v in &vhosts {
        export_vhost(v, &mut defs);
    }
    if vhost.is_some() {
        strip_vhost(&mut defs);
    }
    defs
}

pub(crate) fn export_access(broker: &Broker, defs: &mut Definitions) {
    defs.users = broker
        .users
        .list()
        .into_iter()
        .map(|u| UserDef {
            name: u.name,
            password_hash: u.password_hash,
            hashing_algorithm: crate::auth::HASHING_ALGORITHM.into(),
            tags: u.tags,
            limits: Value::Object(Default::default()),
        })
        .collect();
    let mut vhosts = broker.vhosts();
    vhosts.sort_by(|a, b| a.name.cmp(&b.name));
    defs.vhosts = vhosts
        .iter()
        .map(|v| VHostDef {
            name: v.name.to_string(),
            metadata: broker.vhost_metadata(&v.name),
            limits: Value::Array(Vec::new()),
        })
        .collect();
    defs.permissions = broker
        .users
        .permissions()
        .into_iter()
        .map(|(user, vhost, p)| PermissionDef {
            user,
            vhost,
            configure: p.configure.as_str().into(),
            write: p.write.as_str().into(),
            read: p.read.as_str().into(),
        })
        .collect();
    defs.topic_permissions = broker
        .users
        .topic_permissions()
        .into_iter()
        .map(|(user, vhost, t)| TopicPermissionDef {
            user,
            vhost,
            exchange: t.exchange,
            write: t.write,
            read: t.read,
        })
        .collect();
}

fn export_vhost(v: &VHost, defs: &mut Definitions) {
    let vhost = Some(v.name.to_string());
    let mut queues: Vec<_> = v
        .queues()
        .into_iter()
        .filter(|q| q.options.exclusive_owner.is_none())
        .collect();
    queues.sort_by(|a, b| a.name.cmp(&b.name));
    defs.queues.extend(queues.iter().map(|q| QueueDef {
        name: q.name.to_string(),
        vhost: vhost.clone(),
        durable: q.options.durable,
        auto_delete: q.options.auto_delete,
        arguments: table_to_json(&q.options.arguments),
        kind: Some("classic".into()),
    }));
    let mut exchanges: Vec<_> = v
        .exchanges()
        .into_iter()
        .filter(|x| !x.is_default() && !x.name.starts_with("amq."))
        .collect();
    exchanges.sort_by(|a, b| a.name.cmp(&b.name));
    defs.exchanges.extend(exchanges.iter().map(|x| ExchangeDef {
        name: x.name.to_string(),
        vhost: vhost.clone(),
        kind: x.kind.as_str().into(),
        durable: x.options.durable,
        auto_delete: x.options.auto_delete,
        internal: x.options.internal,
        arguments: table_to_json(&x.options.arguments),
    }));
    let mut bindings: Vec<BindingDef> = v
        .bindings()
        .into_iter()
        .filter(|(_, b)| match &b.destination {
            Destination::Queue(q) => q.options.exclusive_owner.is_none(),
            Destination::Exchange(_) => true,
        })
        .map(|(source, b)| BindingDef {
            source: source.to_string(),
            vhost: vhost.clone(),
            destination: b.destination.name().to_string(),
            destination_type: b.destination.kind().into(),
            routing_key: b.routing_key.to_string(),
            arguments: table_to_json(&b.arguments),
        })
        .collect();
    bindings.sort_by(|a, b| {
        (&a.source, &a.destination, &a.routing_key).cmp(&(
            &b.source,
            &b.destination,
            &b.routing_key,
        ))
    });
    defs.bindings.extend(bindings);
}

fn strip_vhost(defs: &mut Definitions) {
    defs.queues.iter_mut().for_each(|q| q.vhost = None);
    defs.exchanges.iter_mut().for_each(|x| x.vhost = None);
    defs.bindings.iter_mut().for_each(|b| b.vhost = None);
}

/// Imports a document. With `into_vhost`, every queue, exchange, binding,
/// policy and vhost limit goes to that vhost whatever its `vhost` field says (per-vhost import).
pub fn import(
    broker: &Broker,
    defs: &Definitions,
    into_vhost: Option<&str>,
) -> Result<(), DefinitionsError> {
    super::parameters::validate(&defs.parameters)?;
    import_access(broker, defs)?;
    let target = |v: &Option<String>| -> String {
        into_vhost
            .map(String::from)
            .or_else(|| v.clone())
            .unwrap_or_else(|| broker.config.default_vhost.clone())
    };
    for p in &defs.policies {
        let mut p = p.clone();
        p.vhost = into_vhost.map(String::from).unwrap_or(p.vhost);
        broker
            .set_policy(p.clone())
            .map_err(|e| item_error("policy", &p.name, e))?;
    }
    for q in &defs.queues {
        let vhost = vhost_of(broker, &target(&q.vhost), "queue", &q.name)?;
        let arguments = json_to_table(&q.arguments).map_err(|e| item_error("queue", &q.name, e))?;
        let decl = QueueDeclare {
            name: q.name.clone(),
            durable: q.durable,
            auto_delete: q.auto_delete,
            arguments,
            ..Default::default()
        };
        vhost
            .declare_queue(decl, 0)
            .map_err(|e| item_error("queue", &q.name, e))?;
    }
    for x in &defs.exchanges {
        let vhost = vhost_of(broker, &target(&x.vhost), "exchange", &x.name)?;
        let arguments =
            json_to_table(&x.arguments).map_err(|e| item_error("exchange", &x.name, e))?;
        let decl = ExchangeDeclare {
            name: x.name.clone(),
            kind: x.kind.clone(),
            durable: x.durable,
            auto_delete: x.auto_delete,
            internal: x.internal,
            arguments,
            from_definitions: true,
            ..Default::default()
        };
        vhost
            .declare_exchange(decl)
            .map_err(|e| item_error("exchange", &x.name, e))?;
    }
    for b in &defs.bindings {
        let vhost = vhost_of(broker, &target(&b.vhost), "binding", &b.source)?;
        let args = json_to_table(&b.arguments).map_err(|e| item_error("binding", &b.source, e))?;
        import_binding(&vhost, b, args).map_err(|e| item_error("binding", &b.source, e))?;
    }
    // Limits last, so that a stored max-queues below the number of stored
    // queues (an operator may lower it at any time) cannot fail a restart.
    super::parameters::import(broker, &defs.parameters, into_vhost)
}

fn vhost_of(
    broker: &Broker,
    name: &str,
    what: &'static str,
    item: &str,
) -> Result<std::sync::Arc<VHost>, DefinitionsError> {
    broker
        .vhost(name)
        .ok_or_else(|| item_error(what, item, format!("no vhost '{name}'")))
}

fn import_binding(vhost: &VHost, b: &BindingDef, args: Table) -> Result<(), BrokerError> {
    match b.destination_type.as_str() {
        "queue" => vhost.bind_queue(&b.destination, &b.source, &b.routing_key, args, 0),
        "exchange" => vhost.bind_exchange(&b.destination, &b.source, &b.routing_key, args),
        other => Err(BrokerError::PreconditionFailed(format!(
            "unknown destination_type '{other}'"
        ))),
    }
}

fn import_access(broker: &Broker, defs: &Definitions) -> Result<(), DefinitionsError> {
    for u in &defs.users {
        broker
            .users
            .add_user_with_hash(
                &u.name,
                &u.password_hash,
                Some(&u.hashing_algorithm),
                u.tags.clone(),
            )
            .map_err(|e| item_error("user", &u.name, e))?;
    }
    for v in &defs.vhosts {
        broker
            .create_vhost(&v.name)
            .map_err(|e| item_error("vhost", &v.name, e))?;
        broker.set_vhost_metadata(&v.name, v.metadata.clone());
    }
    for p in &defs.permissions {
        let permission = Permission::new(&p.configure, &p.write, &p.read)
            .map_err(|e| item_error("permission", &p.user, e))?;
        broker.users.set_permission(&p.user, &p.vhost, permission);
    }
    for t in &defs.topic_permissions {
        broker.users.set_topic_permission(
            &t.user,
            &t.vhost,
            TopicPermission {
                exchange: t.exchange.clone(),
                write: t.write.clone(),
                read: t.read.clone(),
            },
        );
    }
    Ok(())
}
