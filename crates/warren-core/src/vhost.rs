//! A virtual host: its exchanges, queues and bindings, and the operations AMQP's
//! exchange.*, queue.* and basic.publish methods need, with RabbitMQ's checks and
//! error texts. Maps are read-mostly (`RwLock`); routing only takes read locks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::RwLock;
use rand::Rng;
use warren_codec::FieldTable;

use crate::args::{
    first_difference, validate_queue_arguments, EXCHANGE_EQUIVALENCE_ARGS, QUEUE_EQUIVALENCE_ARGS,
};
use crate::consumer::Consumer;
use crate::error::BrokerError;
use crate::exchange::headers::MatchMode;
use crate::exchange::{Binding, Destination, Exchange, ExchangeKind, ExchangeOptions};
use crate::persistence::Persistence;
use crate::policy::{EffectivePolicies, Policies, Policy, PolicyError, PolicyKind, PolicySpec};
use crate::queue::{Queue, QueueOptions, QueueSettings};
use crate::reply_to::{ReplyTo, REPLY_TO_PREFIX};
use crate::scheduler::Scheduler;

/// Parameters of `queue.declare`.
#[derive(Debug, Clone, Default)]
pub struct QueueDeclare {
    /// Requested name; empty asks for a server-generated one.
    pub name: String,
    /// Only check that the queue exists.
    pub passive: bool,
    /// Survives a restart.
    pub durable: bool,
    /// Belongs to the declaring connection.
    pub exclusive: bool,
    /// Deleted when its last consumer goes.
    pub auto_delete: bool,
    /// x-arguments.
    pub arguments: FieldTable,
}

/// Parameters of `exchange.declare`.
#[derive(Debug, Clone, Default)]
pub struct ExchangeDeclare {
    /// Exchange name.
    pub name: String,
    /// Type name ("direct", "fanout", "topic", "headers").
    pub kind: String,
    /// Only check that the exchange exists.
    pub passive: bool,
    /// Survives a restart.
    pub durable: bool,
    /// Deleted when its last binding goes.
    pub auto_delete: bool,
    /// Cannot be published to directly.
    pub internal: bool,
    /// Arguments.
    pub arguments: FieldTable,
}

/// The result of a queue declaration.
#[derive(Debug, Clone)]
pub struct DeclaredQueue {
    /// The queue.
    pub queue: Arc<Queue>,
    /// Ready messages.
    pub message_count: u32,
    /// Consumers.
    pub consumer_count: u32,
    /// Whether this call created it.
    pub created: bool,
}

/// A virtual host.
pub struct VHost {
    /// Its name ("/" by default).
    pub name: Arc<str>,
    exchanges: RwLock<HashMap<Arc<str>, Arc<Exchange>>>,
    queues: RwLock<HashMap<Arc<str>, Arc<Queue>>>,
    /// Direct reply-to pseudo-queues.
    pub reply_to: ReplyTo,
    policies: RwLock<Policies>,
    scheduler: Arc<Scheduler>,
    me: Weak<VHost>,
    /// Queue declarations, creations and deletions (for metrics).
    pub churn: QueueChurn,
    persistence: OnceLock<Arc<Persistence>>,
}

/// Lifetime queue counters of a vhost.
#[derive(Debug, Default)]
pub struct QueueChurn {
    /// Successful non-passive queue.declare calls.
    pub declared: AtomicU64,
    /// Queues created.
    pub created: AtomicU64,
    /// Queues deleted.
    pub deleted: AtomicU64,
}

fn reserved_name(name: &str) -> bool {
    name.starts_with("amq.")
}

fn default_exchange_refused() -> BrokerError {
    BrokerError::AccessRefused("operation not permitted on the default exchange".into())
}

/// A server-generated queue name, as RabbitMQ makes them ("amq.gen-" + 22 chars).
pub fn generate_queue_name() -> String {
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(22)
        .map(char::from)
        .collect();
    format!("amq.gen-{suffix}")
}

impl VHost {
    /// Creates a vhost with the default exchange and the predeclared amq.* ones,
    /// on the process-wide scheduler.
    pub fn new(name: &str) -> Arc<Self> {
        Self::with_scheduler(name, Scheduler::global())
    }

    /// Creates a vhost whose queues take time and timers from `scheduler`.
    pub fn with_scheduler(name: &str, scheduler: Arc<Scheduler>) -> Arc<Self> {
        Arc::new_cyclic(|me| Self::build(name, scheduler, me.clone()))
    }

    fn build(name: &str, scheduler: Arc<Scheduler>, me: Weak<VHost>) -> Self {
        let vhost = VHost {
            name: name.into(),
            exchanges: RwLock::new(HashMap::new()),
            queues: RwLock::new(HashMap::new()),
            reply_to: ReplyTo::default(),
            churn: QueueChurn::default(),
            persistence: OnceLock::new(),
            policies: RwLock::new(Policies::default()),
            scheduler,
            me,
        };
        let durable = ExchangeOptions {
            durable: true,
            ..Default::default()
        };
        {
            let mut exchanges = vhost.exchanges.write();
            for (name, kind) in [
                ("", ExchangeKind::Direct),
                ("amq.direct", ExchangeKind::Direct),
                ("amq.fanout", ExchangeKind::Fanout),
                ("amq.topic", ExchangeKind::Topic),
                ("amq.headers", ExchangeKind::Headers),
                ("amq.match", ExchangeKind::Headers),
            ] {
                exchanges.insert(name.into(), Exchange::new(name, kind, durable.clone()));
            }
        }
        vhost
    }

    /// The scheduler (clock and timers) of this vhost's queues.
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// Makes the vhost's durable entities persistent (set once, at start or
    /// when the vhost is created on a persistent broker).
    pub fn attach_persistence(&self, persistence: Arc<Persistence>) {
        let _ = self.persistence.set(persistence);
    }

    fn durability(&self) -> Option<&Arc<Persistence>> {
        self.persistence.get()
    }

    /// Looks up an exchange ("" is the default exchange).
    pub fn exchange(&self, name: &str) -> Result<Arc<Exchange>, BrokerError> {
        self.exchanges
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| BrokerError::no_exchange(name, &self.name))
    }

    /// Looks up a queue.
    pub fn queue(&self, name: &str) -> Result<Arc<Queue>, BrokerError> {
        self.queues
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| BrokerError::no_queue(name, &self.name))
    }

    /// Looks up a queue the connection may use (exclusive queues: owner only).
    pub fn queue_for(&self, name: &str, connection_id: u64) -> Result<Arc<Queue>, BrokerError> {
        let queue = self.queue(name)?;
        queue.check_access(connection_id)?;
        Ok(queue)
    }

    /// All exchanges.
    pub fn exchanges(&self) -> Vec<Arc<Exchange>> {
        self.exchanges.read().values().cloned().collect()
    }

    /// All queues.
    pub fn queues(&self) -> Vec<Arc<Queue>> {
        self.queues.read().values().cloned().collect()
    }

    /// Number of queues.
    pub fn queue_count(&self) -> usize {
        self.queues.read().len()
    }

    /// `exchange.declare`.
    pub fn declare_exchange(&self, decl: ExchangeDeclare) -> Result<Arc<Exchange>, BrokerError> {
        if decl.passive {
            return self.exchange(&decl.name);
        }
        let kind = ExchangeKind::parse(&decl.kind).ok_or_else(|| {
            BrokerError::CommandInvalid(format!("invalid exchange type '{}'", decl.kind))
        })?;
        if decl.name.is_empty() {
            return Err(default_exchange_refused());
        }
        let mut exchanges = self.exchanges.write();
        if let Some(existing) = exchanges.get(decl.name.as_str()) {
            self.check_exchange_equivalent(existing, kind, &decl)?;
            return Ok(existing.clone());
        }
        if reserved_name(&decl.name) {
            return Err(BrokerError::AccessRefused(format!(
                "exchange name '{}' contains reserved prefix 'amq.*'",
                decl.name
            )));
        }
        let options = ExchangeOptions {
            durable: decl.durable,
            auto_delete: decl.auto_delete,
            internal: decl.internal,
            arguments: decl.arguments,
        };
        let exchange = Exchange::new(&decl.name, kind, options);
        exchange.set_policy(self.policies.read().effective(&decl.name, false).user);
        exchanges.insert(exchange.name.clone(), exchange.clone());
        if let (true, Some(p)) = (exchange.options.durable, self.durability()) {
            p.save_exchange(&self.name, &exchange);
        }
        Ok(exchange)
    }

    fn check_exchange_equivalent(
        &self,
        x: &Exchange,
        kind: ExchangeKind,
        decl: &ExchangeDeclare,
    ) -> Result<(), BrokerError> {
        let mismatch = |arg: &str, got: String, current: String| {
            BrokerError::inequivalent(arg, "exchange", &x.name, &self.name, &got, &current)
        };
        if x.kind != kind {
            return Err(mismatch(
                "type",
                format!("'{}'", kind.as_str()),
                format!("'{}'", x.kind.as_str()),
            ));
        }
        for (arg, got, current) in [
            ("durable", decl.durable, x.options.durable),
            ("auto_delete", decl.auto_delete, x.options.auto_delete),
            ("internal", decl.internal, x.options.internal),
        ] {
            if got != current {
                return Err(mismatch(arg, format!("'{got}'"), format!("'{current}'")));
            }
        }
        if let Some((arg, got, current)) = first_difference(
            EXCHANGE_EQUIVALENCE_ARGS,
            &x.options.arguments,
            &decl.arguments,
        ) {
            return Err(mismatch(&arg, got, current));
        }
        Ok(())
    }

    /// `exchange.delete`. Deleting a missing exchange succeeds, as in RabbitMQ.
    pub fn delete_exchange(&self, name: &str, if_unused: bool) -> Result<(), BrokerError> {
        if name.is_empty() {
            return Err(default_exchange_refused());
        }
        if reserved_name(name) {
            return Err(BrokerError::AccessRefused(format!(
                "deletion of system exchange '{name}' in vhost '{}' not allowed",
                self.name
            )));
        }
        let exchange = {
            let mut exchanges = self.exchanges.write();
            let Some(exchange) = exchanges.get(name).cloned() else {
                return Ok(());
            };
            if if_unused && exchange.has_bindings() {
                return Err(BrokerError::PreconditionFailed(format!(
                    "exchange '{name}' in vhost '{}' in use",
                    self.name
                )));
            }
            exchanges.remove(name);
            exchange
        };
        if let (true, Some(p)) = (exchange.options.durable, self.durability()) {
            p.forget_exchange(&self.name, name);
        }
        self.remove_bindings_to(&Destination::Exchange(exchange));
        Ok(())
    }

    /// `queue.declare` for `connection_id`.
    pub fn declare_queue(
        &self,
        decl: QueueDeclare,
        connection_id: u64,
    ) -> Result<DeclaredQueue, BrokerError> {
        let generated = decl.name.is_empty();
        let name = if generated {
            generate_queue_name()
        } else {
            decl.name.clone()
        };
        if !decl.passive {
            validate_queue_arguments(&decl.arguments, &name, &self.name)?;
            self.churn.declared.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(existing) = self.queues.read().get(name.as_str()).cloned() {
            return self.redeclare_queue(existing, &decl, connection_id);
        }
        if decl.passive {
            return Err(BrokerError::no_queue(&name, &self.name));
        }
        if !generated && reserved_name(&name) {
            return Err(BrokerError::AccessRefused(format!(
                "queue name '{name}' contains reserved prefix 'amq.*'"
            )));
        }
        let options = QueueOptions {
            durable: decl.durable,
            auto_delete: decl.auto_delete,
            exclusive_owner: decl.exclusive.then_some(connection_id),
            arguments: decl.arguments.clone(),
        };
        let mut queues = self.queues.write();
        if let Some(existing) = queues.get(name.as_str()).cloned() {
            drop(queues);
            return self.redeclare_queue(existing, &decl, connection_id);
        }
        let settings =
            QueueSettings::resolve(&options.arguments, &self.effective_policies(&name, true));
        let queue = Queue::with_settings(
            &name,
            &self.name,
            options,
            settings,
            self.scheduler.clone(),
            self.me.clone(),
        );
        queues.insert(queue.name.clone(), queue.clone());
        drop(queues);
        self.persist_queue(&queue);
        self.churn.created.fetch_add(1, Ordering::Relaxed);
        Ok(DeclaredQueue {
            queue,
            message_count: 0,
            consumer_count: 0,
            created: true,
        })
    }

    /// A new durable, non-exclusive queue is written to the definitions store
    /// and keeps its persistent messages in the vhost's message store.
    fn persist_queue(&self, queue: &Arc<Queue>) {
        let Some(p) = self.durability() else { return };
        if !queue.options.durable || queue.options.exclusive_owner.is_some() {
            return;
        }
        p.save_queue(queue);
        if let Some(store) = p.store(&self.name) {
            queue.attach_store(store);
        }
    }

    fn redeclare_queue(
        &self,
        queue: Arc<Queue>,
        decl: &QueueDeclare,
        connection_id: u64,
    ) -> Result<DeclaredQueue, BrokerError> {
        queue.check_access(connection_id)?;
        if !decl.passive {
            // RabbitMQ checks exclusivity strictly on redeclaration, first: a
            // different `exclusive` flag is RESOURCE_LOCKED, not an inequivalent arg.
            if decl.exclusive != queue.options.exclusive_owner.is_some() {
                return Err(queue.locked());
            }
            let mismatch = |arg: &str, got: String, current: String| {
                BrokerError::inequivalent(arg, "queue", &queue.name, &self.name, &got, &current)
            };
            for (arg, got, current) in [
                ("durable", decl.durable, queue.options.durable),
                ("auto_delete", decl.auto_delete, queue.options.auto_delete),
            ] {
                if got != current {
                    return Err(mismatch(arg, format!("'{got}'"), format!("'{current}'")));
                }
            }
            if let Some((arg, got, current)) = first_difference(
                QUEUE_EQUIVALENCE_ARGS,
                &queue.options.arguments,
                &decl.arguments,
            ) {
                return Err(mismatch(&arg, got, current));
            }
            queue.touch();
        }
        Ok(DeclaredQueue {
            message_count: queue.message_count() as u32,
            consumer_count: queue.consumer_count() as u32,
            queue,
            created: false,
        })
    }

    /// `queue.delete`: returns the number of ready messages deleted. Deleting a
    /// missing queue succeeds with 0, as in RabbitMQ.
    pub fn delete_queue(
        &self,
        name: &str,
        if_unused: bool,
        if_empty: bool,
        connection_id: u64,
    ) -> Result<u32, BrokerError> {
        let Ok(queue) = self.queue(name) else {
            return Ok(0);
        };
        queue.check_access(connection_id)?;
        let (consumers, count) = queue.delete(if_unused, if_empty)?;
        self.forget_queue(&queue, consumers);
        Ok(count as u32)
    }

    /// Deletes a queue unconditionally (exclusive owner gone, auto-delete).
    pub fn remove_queue(&self, queue: &Arc<Queue>) {
        if let Ok((consumers, _)) = queue.delete(false, false) {
            self.forget_queue(queue, consumers);
        }
    }

    fn forget_queue(&self, queue: &Arc<Queue>, consumers: Vec<Arc<Consumer>>) {
        {
            let mut queues = self.queues.write();
            if queues
                .get(&queue.name)
                .is_some_and(|q| Arc::ptr_eq(q, queue))
            {
                queues.remove(&queue.name);
                self.churn.deleted.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let (Some(p), Some(_)) = (self.durability(), queue.store()) {
            p.forget_queue(&self.name, &queue.name);
        }
        self.remove_bindings_to(&Destination::Queue(queue.clone()));
        for consumer in consumers {
            consumer.sink.cancel(consumer.clone());
        }
    }

    /// Removes every binding to `destination` (and, for a deleted exchange, every
    /// binding from it), then deletes auto-delete exchanges left without bindings.
    fn remove_bindings_to(&self, destination: &Destination) {
        let mut orphaned = Vec::new();
        for exchange in self.exchanges() {
            if let Some(p) = self.durability() {
                for b in exchange.bindings() {
                    if &b.destination == destination && Persistence::is_durable(&exchange, &b) {
                        p.forget_binding(&self.name, &exchange.name, &b);
                    }
                }
            }
            if exchange.unbind_destination(destination) > 0
                && exchange.options.auto_delete
                && !exchange.has_bindings()
            {
                orphaned.push(exchange.name.to_string());
            }
        }
        for name in orphaned {
            let _ = self.delete_exchange(&name, true);
        }
    }

    /// `queue.purge`: returns the number of messages purged.
    pub fn purge_queue(&self, name: &str, connection_id: u64) -> Result<u32, BrokerError> {
        Ok(self.queue_for(name, connection_id)?.purge() as u32)
    }

    /// `queue.bind`.
    pub fn bind_queue(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        arguments: FieldTable,
        connection_id: u64,
    ) -> Result<(), BrokerError> {
        let (exchange, queue) = self.binding_ends(exchange, queue, connection_id)?;
        Self::check_binding_arguments(&exchange, &arguments)?;
        self.add_binding(&exchange, Destination::Queue(queue), key, arguments);
        Ok(())
    }

    /// `queue.unbind`.
    pub fn unbind_queue(
        &self,
        queue: &str,
        exchange: &str,
        key: &str,
        arguments: FieldTable,
        connection_id: u64,
    ) -> Result<(), BrokerError> {
        let (exchange, queue) = self.binding_ends(exchange, queue, connection_id)?;
        self.unbind(&exchange, Destination::Queue(queue), key, arguments);
        Ok(())
    }

    fn binding_ends(
        &self,
        exchange: &str,
        queue: &str,
        connection_id: u64,
    ) -> Result<(Arc<Exchange>, Arc<Queue>), BrokerError> {
        if exchange.is_empty() {
            return Err(default_exchange_refused());
        }
        let queue = self.queue_for(queue, connection_id)?;
        Ok((self.exchange(exchange)?, queue))
    }

    fn check_binding_arguments(
        exchange: &Exchange,
        arguments: &FieldTable,
    ) -> Result<(), BrokerError> {
        if exchange.kind == ExchangeKind::Headers && MatchMode::from_arguments(arguments).is_none()
        {
            return Err(BrokerError::PreconditionFailed(
                "Invalid x-match field value; expected all, any, all-with-x, or any-with-x".into(),
            ));
        }
        Ok(())
    }

    fn unbind(
        &self,
        exchange: &Arc<Exchange>,
        destination: Destination,
        key: &str,
        arguments: FieldTable,
    ) {
        let binding = Binding {
            destination,
            routing_key: key.into(),
            arguments,
        };
        let removed = exchange.unbind(&binding);
        if let (true, Some(p)) = (removed, self.durability()) {
            if Persistence::is_durable(exchange, &binding) {
                p.forget_binding(&self.name, &exchange.name, &binding);
            }
        }
        if removed && exchange.options.auto_delete && !exchange.has_bindings() {
            let _ = self.delete_exchange(&exchange.name, true);
        }
    }

    /// `exchange.bind`: messages reaching `source` also go through `destination`.
    pub fn bind_exchange(
        &self,
        destination: &str,
        source: &str,
        key: &str,
        arguments: FieldTable,
    ) -> Result<(), BrokerError> {
        let (source, destination) = self.exchange_pair(source, destination)?;
        Self::check_binding_arguments(&source, &arguments)?;
        self.add_binding(&source, Destination::Exchange(destination), key, arguments);
        Ok(())
    }

    /// Adds a binding, persisting it when both ends are durable.
    fn add_binding(
        &self,
        source: &Arc<Exchange>,
        destination: Destination,
        key: &str,
        arguments: FieldTable,
    ) {
        let binding = Binding {
            destination,
            routing_key: key.into(),
            arguments,
        };
        let durable = Persistence::is_durable(source, &binding);
        if source.bind(binding.clone()) && durable {
            if let Some(p) = self.durability() {
                p.save_binding(&self.name, source, &binding);
            }
        }
    }

    /// `exchange.unbind`.
    pub fn unbind_exchange(
        &self,
        destination: &str,
        source: &str,
        key: &str,
        arguments: FieldTable,
    ) -> Result<(), BrokerError> {
        let (source, destination) = self.exchange_pair(source, destination)?;
        self.unbind(&source, Destination::Exchange(destination), key, arguments);
        Ok(())
    }

    fn exchange_pair(
        &self,
        source: &str,
        destination: &str,
    ) -> Result<(Arc<Exchange>, Arc<Exchange>), BrokerError> {
        if source.is_empty() || destination.is_empty() {
            return Err(default_exchange_refused());
        }
        Ok((self.exchange(source)?, self.exchange(destination)?))
    }

    /// Finds the queues a message published to `exchange` with `routing_key`
    /// reaches, following exchange-to-exchange bindings, each queue once.
    /// `headers` is called only if a headers exchange is on the way.
    pub fn route(
        &self,
        exchange: &Arc<Exchange>,
        routing_key: &str,
        headers: &mut dyn FnMut() -> Option<FieldTable>,
        out: &mut Vec<Arc<Queue>>,
    ) {
        if exchange.is_default() {
            self.route_default(routing_key, out);
            return;
        }
        let mut parsed: Option<Option<FieldTable>> = None;
        let mut visited: Vec<Arc<Exchange>> = vec![exchange.clone()];
        let mut pending = vec![exchange.clone()];
        let mut found = Vec::new();
        while let Some(x) = pending.pop() {
            let table = if x.kind == ExchangeKind::Headers {
                parsed.get_or_insert_with(&mut *headers).as_ref()
            } else {
                None
            };
            found.clear();
            x.route(routing_key, table, &mut found);
            if found.is_empty() {
                self.add_alternate(&x, &mut visited, &mut pending);
            }
            for destination in found.drain(..) {
                match destination {
                    Destination::Queue(q) => {
                        if !out.iter().any(|o| Arc::ptr_eq(o, &q)) {
                            out.push(q);
                        }
                    }
                    Destination::Exchange(e) => {
                        if !visited.iter().any(|v| Arc::ptr_eq(v, &e)) {
                            visited.push(e.clone());
                            pending.push(e);
                        }
                    }
                }
            }
        }
    }

    /// An exchange that routed a message nowhere hands it to its alternate
    /// exchange (argument or policy), once per route.
    fn add_alternate(
        &self,
        x: &Exchange,
        visited: &mut Vec<Arc<Exchange>>,
        pending: &mut Vec<Arc<Exchange>>,
    ) {
        let Some(name) = x.alternate_exchange() else {
            return;
        };
        let Ok(ae) = self.exchange(&name) else {
            return;
        };
        if !visited.iter().any(|v| Arc::ptr_eq(v, &ae)) {
            visited.push(ae.clone());
            pending.push(ae);
        }
    }

    /// The policies in effect for a queue (`is_queue`) or exchange named `name`.
    pub fn effective_policies(&self, name: &str, is_queue: bool) -> EffectivePolicies {
        self.policies.read().effective(name, is_queue)
    }

    /// Adds or replaces a policy (`rabbitmqctl set_policy` /
    /// `set_operator_policy`) and applies it to existing queues and exchanges.
    pub fn set_policy(&self, kind: PolicyKind, spec: PolicySpec) -> Result<(), PolicyError> {
        let policy = Policy::new(kind, spec)?;
        self.policies.write().set(kind, policy);
        self.apply_policies();
        Ok(())
    }

    /// Removes a policy (`rabbitmqctl clear_policy` / `clear_operator_policy`)
    /// and re-applies the remaining ones.
    pub fn clear_policy(&self, kind: PolicyKind, name: &str) -> Result<(), PolicyError> {
        if !self.policies.write().clear(kind, name) {
            return Err(PolicyError::NotFound(name.to_string()));
        }
        self.apply_policies();
        Ok(())
    }

    /// The policies of a kind, highest priority first (`list_policies`).
    pub fn policies(&self, kind: PolicyKind) -> Vec<Arc<Policy>> {
        self.policies.read().list(kind)
    }

    /// Recomputes every queue's settings and exchange's alternate exchange.
    fn apply_policies(&self) {
        for queue in self.queues() {
            let effective = self.effective_policies(&queue.name, true);
            queue.apply_settings(QueueSettings::resolve(&queue.options.arguments, &effective));
        }
        for exchange in self.exchanges() {
            exchange.set_policy(self.effective_policies(&exchange.name, false).user);
        }
    }

    fn route_default(&self, routing_key: &str, out: &mut Vec<Arc<Queue>>) {
        if routing_key.starts_with(REPLY_TO_PREFIX) {
            out.extend(self.reply_to.lookup(routing_key));
        } else if let Some(queue) = self.queues.read().get(routing_key) {
            out.push(queue.clone());
        }
    }

    /// Every binding in the vhost, as (source exchange, binding).
    pub fn bindings(&self) -> Vec<(Arc<str>, Binding)> {
        self.exchanges()
            .into_iter()
            .flat_map(|x| {
                let name = x.name.clone();
                x.bindings().into_iter().map(move |b| (name.clone(), b))
            })
            .collect()
    }
}

impl std::fmt::Debug for VHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VHost").field("name", &self.name).finish()
    }
}
