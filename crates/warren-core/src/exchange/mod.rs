//! Exchanges and their bindings. Each exchange keeps its bindings behind a
//! read-mostly lock with an index suited to its type, so routing a message takes
//! a shared read lock and no allocation beyond the result list.

pub mod headers;
pub mod topic;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::queue::Queue;
use crate::value::{Table, Value};
use headers::{headers_match, MatchMode};
use topic::TopicTrie;

/// The routing algorithm of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    /// Routing key equals binding key.
    Direct,
    /// Every bound destination.
    Fanout,
    /// Binding keys are patterns with `*` and `#`.
    Topic,
    /// Message headers against binding arguments.
    Headers,
}

impl ExchangeKind {
    /// Parses the type name used in `exchange.declare`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "direct" => Some(ExchangeKind::Direct),
            "fanout" => Some(ExchangeKind::Fanout),
            "topic" => Some(ExchangeKind::Topic),
            "headers" => Some(ExchangeKind::Headers),
            _ => None,
        }
    }

    /// The type name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
        }
    }
}

/// What a binding points at.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A queue.
    Queue(Arc<Queue>),
    /// Another exchange (exchange-to-exchange binding).
    Exchange(Arc<Exchange>),
}

impl PartialEq for Destination {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Destination::Queue(a), Destination::Queue(b)) => Arc::ptr_eq(a, b),
            (Destination::Exchange(a), Destination::Exchange(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Destination {
    /// The destination's name.
    pub fn name(&self) -> &str {
        match self {
            Destination::Queue(q) => &q.name,
            Destination::Exchange(e) => &e.name,
        }
    }

    /// "queue" or "exchange", as in RabbitMQ's listings.
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Queue(_) => "queue",
            Destination::Exchange(_) => "exchange",
        }
    }
}

/// One binding from an exchange to a destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// Where matching messages go.
    pub destination: Destination,
    /// The binding key.
    pub routing_key: Arc<str>,
    /// Binding arguments (used by the headers exchange).
    pub arguments: Table,
}

#[derive(Default)]
struct Routes {
    bindings: Vec<Binding>,
    direct: HashMap<Arc<str>, Vec<Destination>>,
    topic: TopicTrie<Destination>,
    headers: Vec<(MatchMode, usize)>,
}

/// How an exchange was declared.
#[derive(Debug, Clone, Default)]
pub struct ExchangeOptions {
    /// Survives a restart.
    pub durable: bool,
    /// Deleted when its last binding is removed.
    pub auto_delete: bool,
    /// Cannot be published to directly.
    pub internal: bool,
    /// Declaration arguments.
    pub arguments: Table,
}

/// An exchange.
pub struct Exchange {
    /// Name, unique in its vhost ("" is the default exchange).
    pub name: Arc<str>,
    /// Routing algorithm.
    pub kind: ExchangeKind,
    /// How it was declared.
    pub options: ExchangeOptions,
    /// Messages published into it.
    pub published: AtomicU64,
    /// Messages it routed to at least one queue.
    pub routed: AtomicU64,
    routes: RwLock<Routes>,
    /// The user policy in effect, if any.
    policy: RwLock<Option<Arc<crate::policy::Policy>>>,
}

impl Exchange {
    /// Creates an exchange with no bindings.
    pub fn new(name: &str, kind: ExchangeKind, options: ExchangeOptions) -> Arc<Self> {
        Arc::new(Exchange {
            name: name.into(),
            kind,
            options,
            published: AtomicU64::new(0),
            routed: AtomicU64::new(0),
            routes: RwLock::new(Routes::default()),
            policy: RwLock::new(None),
        })
    }

    /// Sets the policy in effect (from [`crate::VHost::set_policy`]).
    pub fn set_policy(&self, policy: Option<Arc<crate::policy::Policy>>) {
        *self.policy.write() = policy;
    }

    /// Name of the policy in effect.
    pub fn policy_name(&self) -> Option<Arc<str>> {
        self.policy.read().as_ref().map(|p| p.name.clone())
    }

    /// The alternate exchange: the `alternate-exchange` argument, else the
    /// policy's (the argument wins, as in RabbitMQ).
    pub fn alternate_exchange(&self) -> Option<Arc<str>> {
        if let Some(name) = self
            .options
            .arguments
            .get("alternate-exchange")
            .and_then(Value::as_str)
        {
            return Some(name.into());
        }
        self.policy
            .read()
            .as_ref()
            .and_then(|p| p.definition.alternate_exchange.clone())
    }

    /// Whether this is the nameless default exchange.
    pub fn is_default(&self) -> bool {
        self.name.is_empty()
    }

    /// Adds a binding; returns false if an identical one existed.
    pub fn bind(&self, binding: Binding) -> bool {
        let mut routes = self.routes.write();
        if routes.bindings.contains(&binding) {
            return false;
        }
        match self.kind {
            ExchangeKind::Direct => {
                let dests = routes
                    .direct
                    .entry(binding.routing_key.clone())
                    .or_default();
                if !dests.contains(&binding.destination) {
                    dests.push(binding.destination.clone());
                }
            }
            ExchangeKind::Topic => routes
                .topic
                .insert(&binding.routing_key, binding.destination.clone()),
            ExchangeKind::Fanout | ExchangeKind::Headers => {}
        }
        routes.bindings.push(binding);
        routes.rebuild_headers(self.kind);
        true
    }

    /// Whether a binding identical to `binding` exists.
    pub fn has_binding(&self, binding: &Binding) -> bool {
        self.routes.read().bindings.contains(binding)
    }

    /// Removes the binding identical to `binding`; returns whether it existed.
    pub fn unbind(&self, binding: &Binding) -> bool {
        self.remove_where(|b| b == binding) > 0
    }

    /// Removes every binding to `destination`; returns how many were removed.
    pub fn unbind_destination(&self, destination: &Destination) -> usize {
        self.remove_where(|b| &b.destination == destination)
    }

    fn remove_where(&self, doomed: impl Fn(&Binding) -> bool) -> usize {
        let mut routes = self.routes.write();
        let before = routes.bindings.len();
        let (gone, kept): (Vec<Binding>, Vec<Binding>) =
            routes.bindings.drain(..).partition(|b| doomed(b));
        routes.bindings = kept;
        for binding in &gone {
            routes.forget(self.kind, binding);
        }
        routes.rebuild_headers(self.kind);
        before - routes.bindings.len()
    }

    /// A snapshot of the bindings whose source is this exchange.
    pub fn bindings(&self) -> Vec<Binding> {
        self.routes.read().bindings.clone()
    }

    /// Whether any binding has this exchange as its source.
    pub fn has_bindings(&self) -> bool {
        !self.routes.read().bindings.is_empty()
    }

    /// Appends the destinations matching a message to `out` (duplicates possible;
    /// the caller de-duplicates across exchanges).
    pub fn route(&self, routing_key: &str, headers: Option<&Table>, out: &mut Vec<Destination>) {
        let routes = self.routes.read();
        match self.kind {
            ExchangeKind::Direct => {
                if let Some(dests) = routes.direct.get(routing_key) {
                    out.extend(dests.iter().cloned());
                }
            }
            ExchangeKind::Fanout => {
                out.extend(routes.bindings.iter().map(|b| b.destination.clone()))
            }
            ExchangeKind::Topic => routes
                .topic
                .matches(routing_key, &mut |d| out.push(d.clone())),
            ExchangeKind::Headers => {
                for &(mode, index) in &routes.headers {
                    let binding = &routes.bindings[index];
                    if headers_match(&binding.arguments, mode, headers) {
                        out.push(binding.destination.clone());
                    }
                }
            }
        }
    }

    /// Counts one message routed to at least one queue (publish_out).
    pub fn count_routed(&self) {
        self.routed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one published message.
    pub fn count_publish(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
    }
}

impl Routes {
    fn forget(&mut self, kind: ExchangeKind, binding: &Binding) {
        let still_bound = self
            .bindings
            .iter()
            .any(|b| b.routing_key == binding.routing_key && b.destination == binding.destination);
        if still_bound {
            return;
        }
        match kind {
            ExchangeKind::Direct => {
                if let Some(dests) = self.direct.get_mut(&*binding.routing_key) {
                    dests.retain(|d| d != &binding.destination);
                    if dests.is_empty() {
                        self.direct.remove(&*binding.routing_key);
                    }
                }
            }
            ExchangeKind::Topic => self
                .topic
                .remove(&binding.routing_key, |d| d == &binding.destination),
            ExchangeKind::Fanout | ExchangeKind::Headers => {}
        }
    }

    fn rebuild_headers(&mut self, kind: ExchangeKind) {
        if kind != ExchangeKind::Headers {
            return;
        }
        self.headers = self
            .bindings
            .iter()
            .enumerate()
            .map(|(i, b)| {
                (
                    MatchMode::from_arguments(&b.arguments).unwrap_or(MatchMode::All),
                    i,
                )
            })
            .collect();
    }
}

/// Checks the type of an `alternate-exchange` declaration argument: a string,
/// as RabbitMQ's `rabbit_misc:r_arg`; anything else is refused with its 406
/// text, e.g. "invalid type 'signedint' for arg 'alternate-exchange' in
/// exchange 'x' in vhost '/'".
pub(crate) fn check_alternate_exchange_arg(
    arguments: &Table,
    exchange: &str,
    vhost: &str,
) -> Result<(), crate::error::BrokerError> {
    match arguments.get("alternate-exchange") {
        None | Some(Value::Str(_)) => Ok(()),
        Some(other) => Err(crate::error::BrokerError::PreconditionFailed(format!(
            "invalid type '{}' for arg 'alternate-exchange' in exchange '{exchange}' in vhost '{vhost}'",
            other.type_name()
        ))),
    }
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}
