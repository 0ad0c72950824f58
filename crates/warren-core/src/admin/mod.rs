//! The operator's service layer above the domain: changes made through the
//! management API, `warren ctl` and definitions import (policies, vhost
//! limits) are validated here, applied to the vhosts (the one registry of
//! each) and persisted. As `impl Broker` blocks, so callers keep writing
//! `broker.set_policy(..)`; the domain modules (vhost, queue, exchange,
//! policy) never call back into this layer.

mod limits;
mod policies;
