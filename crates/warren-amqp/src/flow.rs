//! Blocking publishers under resource alarms, as rabbit_reader does: when an
//! alarm is set a connection becomes "blocking"; the first basic.publish it
//! sends after that makes it "blocked" (connection.blocked is sent if the
//! client announced the capability) and the socket is no longer read until
//! every alarm clears (connection.unblocked). Connections that only consume
//! are never blocked and keep receiving deliveries.

use std::sync::atomic::Ordering::Relaxed;

use warren_codec::spec::{connection, AMQPClass};
use warren_core::alarms::AlarmSet;
use warren_core::registry::{FLOW_BLOCKED, FLOW_BLOCKING, FLOW_RUNNING};

use crate::session::Session;
use crate::text::reply_text;

/// Where a connection stands with respect to resource alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// No alarm: read and publish normally.
    Running,
    /// An alarm is set; blocked on the next publish.
    Blocking,
    /// Published during an alarm: the socket is not read until it clears.
    Blocked,
}

/// The connection's flow state and the alarms that caused it.
pub struct Flow {
    /// Current state.
    pub throttle: Throttle,
    alarms: AlarmSet,
}

impl Flow {
    /// A connection starting under `alarms`.
    pub fn new(alarms: AlarmSet, session: &Session) -> Flow {
        let mut flow = Flow {
            throttle: Throttle::Running,
            alarms: AlarmSet::default(),
        };
        flow.alarms_changed(alarms);
        flow.publish_state(session);
        flow
    }

    /// True while the socket must not be read.
    pub fn blocked(&self) -> bool {
        self.throttle == Throttle::Blocked
    }

    /// Reacts to a new alarm set. Returns true when the connection was
    /// unblocked (buffered input should be processed again).
    pub fn on_alarms(&mut self, alarms: AlarmSet, session: &mut Session) -> bool {
        let unblocked = self.alarms_changed(alarms);
        if unblocked && session.capabilities.connection_blocked {
            let unblocked = connection::Unblocked {};
            session.send(
                0,
                AMQPClass::Connection(connection::AMQPMethod::Unblocked(unblocked)),
            );
        }
        self.publish_state(session);
        unblocked
    }

    /// Called for every basic.publish: blocks a "blocking" connection.
    pub fn on_publish(&mut self, session: &mut Session) {
        if self.throttle != Throttle::Blocking {
            return;
        }
        self.throttle = Throttle::Blocked;
        if session.capabilities.connection_blocked {
            let blocked = connection::Blocked {
                reason: reply_text(&self.alarms.reason()),
            };
            session.send(
                0,
                AMQPClass::Connection(connection::AMQPMethod::Blocked(blocked)),
            );
        }
        self.publish_state(session);
    }

    /// Lets a closing connection be read again (to see close-ok).
    pub fn release(&mut self, session: &Session) {
        if self.throttle == Throttle::Blocked {
            self.throttle = Throttle::Blocking;
            self.publish_state(session);
        }
    }

    /// Moves between states; true when a blocked connection is released.
    fn alarms_changed(&mut self, alarms: AlarmSet) -> bool {
        self.alarms = alarms;
        match (alarms.any(), self.throttle) {
            (true, Throttle::Running) => self.throttle = Throttle::Blocking,
            (false, Throttle::Blocking) => self.throttle = Throttle::Running,
            (false, Throttle::Blocked) => {
                self.throttle = Throttle::Running;
                return true;
            }
            _ => {}
        }
        false
    }

    fn publish_state(&self, session: &Session) {
        let state = match self.throttle {
            Throttle::Running => FLOW_RUNNING,
            Throttle::Blocking => FLOW_BLOCKING,
            Throttle::Blocked => FLOW_BLOCKED,
        };
        session.info.flow.store(state, Relaxed);
    }
}
