//! Without the `redis` feature there is no broker: this uninhabited stand-in keeps the
//! `Option<Arc<Broker>>` in the request handlers (always `None`) free of feature switches.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::Request;

use crate::error::PublishError;
use crate::http::{App, Peer, ResponseBody};
use crate::hub::{Subscription, Topics};
use crate::metrics::Metrics;
use crate::replay::{Resume, Window};
use crate::websocket::Opening;

/// No value of this type exists.
pub(crate) enum Broker {}

/// No replay from Redis exists.
pub(crate) enum Replay {}

impl Replay {
    pub fn poll_page(&mut self, _: &mut Context<'_>) -> Poll<Option<Result<Vec<Bytes>, String>>> {
        match *self {}
    }
}

/// Why `--redis` opened no subscription.
pub(crate) enum Refusal {
    // Only a broker asks a client to come back later; `/ws` handles the case in both builds.
    #[allow(dead_code)]
    Later(&'static str),
    OverCapacity,
}

impl Broker {
    pub fn is_up(&self) -> bool {
        match *self {}
    }

    pub fn check(_: Option<&str>, _: Option<&str>, _: &str) -> Result<(), PublishError> {
        Ok(())
    }

    pub async fn publish(
        &self,
        _: Option<&str>,
        _: Option<&str>,
        _: &str,
    ) -> Result<String, PublishError> {
        match *self {}
    }

    pub fn prometheus(&self) -> String {
        match *self {}
    }

    pub async fn decide_poll(&self, _: Option<&[u8]>) -> (Resume, Window) {
        match *self {}
    }

    pub fn id_of(&self, _: u64) -> String {
        match *self {}
    }

    pub fn mapped_id(&self, _: u64) -> Option<String> {
        match *self {}
    }

    pub fn later_retry_ms(&self, _: &App) -> u64 {
        match *self {}
    }

    pub async fn open_ws(
        self: &Arc<Self>,
        _: &Arc<Metrics>,
        _: &Peer,
        _: Option<&[u8]>,
        _: Topics,
    ) -> Result<(Subscription, Opening), Refusal> {
        match **self {}
    }

    pub async fn resume_ws(
        self: &Arc<Self>,
        _: &Arc<Metrics>,
        _: &mut Subscription,
        _: &[u8],
        _: Topics,
    ) -> Result<(Resume, Opening), &'static str> {
        match **self {}
    }
}

pub(crate) async fn stream<B>(
    _: &App,
    broker: &Arc<Broker>,
    _: &Peer,
    _: &Request<B>,
    _: Option<&[u8]>,
    _: Topics,
) -> hyper::Response<ResponseBody> {
    match **broker {}
}
