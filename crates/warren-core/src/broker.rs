//! The broker: configuration, vhosts and users, shared by every protocol adapter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::alarms::{Alarms, DiskFreeLimit, MemoryWatermark};
use crate::auth::Users;
use crate::clock::{Clock, SystemClock};
use crate::error::BrokerError;
use crate::names::{check_name, NameTooLong};
use crate::rates::RateTable;
use crate::registry::Registry;
use crate::scheduler::Scheduler;
use crate::vhost::VHost;

/// The broker's settings, with RabbitMQ's defaults. Protocol adapters keep
/// their own (frame and channel limits, heartbeats: `warren_amqp::AmqpConfig`).
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// User created at start (default "guest").
    pub default_user: String,
    /// Its password (default "guest").
    pub default_pass: String,
    /// The vhost created at start (default "/").
    pub default_vhost: String,
    /// Users that may only log in from loopback addresses (default ["guest"]).
    pub loopback_users: Vec<String>,
    /// Largest message body accepted (default 128 MiB).
    pub max_message_size: u64,
    /// How long a delivery may stay unacknowledged before its channel is
    /// closed with 406 PRECONDITION_FAILED (default 30 minutes; None disables).
    /// Config file key `consumer_timeout`, in milliseconds, as in RabbitMQ.
    pub consumer_timeout: Option<Duration>,
    /// Memory high watermark (`vm_memory_high_watermark.relative`, default
    /// 0.4 of the machine's or cgroup's memory, or `.absolute`).
    pub vm_memory_high_watermark: MemoryWatermark,
    /// Free disk space below which publishers are blocked
    /// (`disk_free_limit.absolute`, default 50 MB).
    pub disk_free_limit: DiskFreeLimit,
    /// Most AMQP connections the node accepts (`connection_max`; None: no limit).
    /// Beyond it, new sockets are closed at once, before the protocol header.
    pub connection_max: Option<usize>,
    /// Most consumers on one channel (`consumer_max_per_channel`; None: no
    /// limit); one more is 530 NOT_ALLOWED, as RabbitMQ.
    pub consumer_max_per_channel: Option<usize>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            default_user: "guest".into(),
            default_pass: "guest".into(),
            default_vhost: "/".into(),
            loopback_users: vec!["guest".into()],
            max_message_size: 128 * 1024 * 1024,
            consumer_timeout: Some(Duration::from_secs(30 * 60)),
            vm_memory_high_watermark: MemoryWatermark::Relative(0.4),
            disk_free_limit: DiskFreeLimit::Absolute(50_000_000),
            connection_max: None,
            consumer_max_per_channel: None,
        }
    }
}

/// The broker's shared state.
pub struct Broker {
    /// Configuration.
    pub config: BrokerConfig,
    /// User accounts and permissions.
    pub users: Users,
    /// Live connections and channels, with their counters.
    pub registry: Registry,
    /// Run after a policy is set or cleared (persistence saves them).
    pub(crate) policies_changed: crate::hook::ChangeHook,
    /// Message rates, filled by a periodic sampler.
    pub rates: RateTable,
    /// Memory and disk alarms.
    pub alarms: Alarms,
    /// When the broker started.
    pub started_at: std::time::Instant,
    /// AMQP sockets accepted and not yet closed, on every listener (plain and
    /// amqps): what `connection_max` limits.
    pub open_sockets: Arc<std::sync::atomic::AtomicI64>,
    vhosts: RwLock<HashMap<String, Arc<VHost>>>,
    pub(crate) persistence: std::sync::OnceLock<Arc<crate::persistence::Persistence>>,
    vhost_metadata: RwLock<HashMap<String, serde_json::Value>>,
    next_connection_id: AtomicU64,
    scheduler: Arc<Scheduler>,
}

impl Broker {
    /// A broker with the default vhost and user, on the system clock.
    pub fn new(config: BrokerConfig) -> Arc<Self> {
        Self::with_clock(config, Arc::new(SystemClock::default()))
    }

    /// A broker whose TTLs and expiries read time from `clock`.
    pub fn with_clock(config: BrokerConfig, clock: Arc<dyn Clock>) -> Arc<Self> {
        let scheduler = Scheduler::new(clock);
        let users = Users::with_default_in(
            &config.default_user,
            &config.default_pass,
            &config.default_vhost,
            config.loopback_users.clone(),
        );
        let mut vhosts = HashMap::new();
        vhosts.insert(
            config.default_vhost.clone(),
            VHost::with_scheduler(&config.default_vhost, scheduler.clone()),
        );
        let mut metadata = HashMap::new();
        metadata.insert(
            config.default_vhost.clone(),
            serde_json::json!({"description": "Default virtual host", "tags": []}),
        );
        let alarms = Alarms::new(config.vm_memory_high_watermark, config.disk_free_limit);
        Arc::new(Broker {
            alarms,
            config,
            users,
            registry: Registry::default(),
            policies_changed: Default::default(),
            rates: RateTable::default(),
            started_at: std::time::Instant::now(),
            open_sockets: Arc::new(std::sync::atomic::AtomicI64::new(0)),
            vhosts: RwLock::new(vhosts),
            persistence: std::sync::OnceLock::new(),
            vhost_metadata: RwLock::new(metadata),
            next_connection_id: AtomicU64::new(1),
            scheduler,
        })
    }

    /// The broker's clock and timers.
    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// A fresh connection id, unique for the broker's lifetime.
    pub fn next_connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Looks up a vhost.
    pub fn vhost(&self, name: &str) -> Option<Arc<VHost>> {
        self.vhosts.read().get(name).cloned()
    }

    /// Creates a vhost if it does not exist, refusing a name longer than AMQP
    /// can carry: the HTTP API and definitions import create vhosts through
    /// this.
    pub fn create_vhost(&self, name: &str) -> Result<Arc<VHost>, NameTooLong> {
        check_name("vhost", name)?;
        Ok(self.add_vhost(name))
    }

    /// Creates a vhost if it does not exist, without checking the name (for
    /// names that did not come from a client: the configured default vhost,
    /// tests). Client-supplied names go through [`Broker::create_vhost`].
    pub fn add_vhost(&self, name: &str) -> Arc<VHost> {
        let mut created = false;
        let vhost = self
            .vhosts
            .write()
            .entry(name.to_string())
            .or_insert_with(|| {
                created = true;
                VHost::with_scheduler(name, self.scheduler.clone())
            })
            .clone();
        if created {
            self.vhost_created(&vhost);
        }
        vhost
    }

    /// Deletes a vhost: its queues (consumers are cancelled), its connections
    /// (closed with 320), its permissions and policies.
    pub fn delete_vhost(&self, name: &str) -> Result<(), BrokerError> {
        let vhost = self
            .vhosts
            .write()
            .remove(name)
            .ok_or_else(|| BrokerError::NotFound(format!("no vhost '{name}'")))?;
        self.vhost_metadata.write().remove(name);
        for conn in self.registry.connections() {
            if conn.meta.vhost == name {
                conn.close(&format!("vhost '{name}' is deleted"));
            }
        }
        for queue in vhost.queues() {
            vhost.remove_queue(&queue);
        }
        self.users.forget_vhost(name);
        if let Some(p) = self.persistence.get() {
            p.drop_vhost(name);
        }
        self.save_access();
        Ok(())
    }

    /// A vhost's metadata ({"description": …, "tags": […]}).
    pub fn vhost_metadata(&self, name: &str) -> serde_json::Value {
        self.vhost_metadata
            .read()
            .get(name)
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"description": "", "tags": []}))
    }

    /// Sets a vhost's metadata.
    pub fn set_vhost_metadata(&self, name: &str, metadata: serde_json::Value) {
        self.vhost_metadata
            .write()
            .insert(name.to_string(), metadata);
        self.save_access();
    }

    /// All vhosts.
    pub fn vhosts(&self) -> Vec<Arc<VHost>> {
        self.vhosts.read().values().cloned().collect()
    }

    /// Opens `vhost` for `user`: it must exist and the user must have permissions
    /// there (RabbitMQ answers 530 NOT_ALLOWED otherwise).
    pub fn open_vhost(&self, user: &str, vhost: &str) -> Result<Arc<VHost>, BrokerError> {
        let refused = || {
            BrokerError::NotAllowed(format!(
                "access to vhost '{vhost}' refused for user '{user}'"
            ))
        };
        // RabbitMQ (rabbit_reader) tells a missing vhost from a refused one.
        let found = self
            .vhost(vhost)
            .ok_or_else(|| BrokerError::NotAllowed(format!("vhost {vhost} not found")))?;
        self.users.permission(user, vhost).ok_or_else(refused)?;
        Ok(found)
    }
}
