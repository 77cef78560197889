//! Without the `redis` feature there is no broker: this uninhabited stand-in keeps the
//! `Option<Arc<Broker>>` in the request handlers (always `None`) free of feature switches.

use hyper::Request;

use crate::error::PublishError;
use crate::http::{App, Peer, ResponseBody};
use crate::hub::Topics;
use crate::replay::{Resume, Window};

/// No value of this type exists.
pub(crate) enum Broker {}

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
}

pub(crate) async fn stream<B>(
    _: &App,
    broker: &std::sync::Arc<Broker>,
    _: &Peer,
    _: &Request<B>,
    _: Option<&[u8]>,
    _: Topics,
) -> hyper::Response<ResponseBody> {
    match **broker {}
}
