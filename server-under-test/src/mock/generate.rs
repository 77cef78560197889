//! The generation loop shared by the LLM-style endpoints: frames from a [`Shape`] paced by a
//! [`Plan`] onto a [`Wire`], with the mock misbehaviours applied in one place.

use bytes::Bytes;

use super::tokens::Plan;
use super::wire::{Gone, Wire};
use crate::behaviour::{Behaviour, MockConduct};

/// One protocol's frames for an answer, in the order they go out.
pub(crate) trait Shape: Send + 'static {
    /// Before the model thinks (metadata, opening events).
    fn head(&mut self) -> Vec<Bytes>;
    /// One generated token.
    fn token(&mut self, text: &str) -> Bytes;
    /// After the last token: the finish and the protocol's end marker.
    fn tail(&mut self, produced: u32) -> Vec<Bytes>;
    /// A failure mid-generation, as the protocol reports it in the stream.
    fn error(&mut self, produced: u32) -> Vec<Bytes>;
}

/// Everything that decides how one stream unfolds.
pub(crate) struct Run<S> {
    pub shape: S,
    pub plan: Plan,
    pub behaviour: Behaviour,
    /// The server's heartbeat interval (the silent-think switch measures against it).
    pub heartbeat: Option<std::time::Duration>,
}

impl<S: Shape> Run<S> {
    /// Generates onto `wire` until the end, a failure or the client leaving.
    pub async fn drive(self, wire: Wire) {
        let _ = self.generate(wire).await;
    }

    async fn generate(mut self, mut wire: Wire) -> Result<(), Gone> {
        for frame in self.shape.head() {
            wire.send(frame).await?;
        }
        wire.pause(self.behaviour.mock_think(self.plan.think, self.heartbeat))
            .await?;
        let produced = self.plan.produced();
        let cut_at = self.behaviour.mock_cut_after(produced);
        for i in 0..produced {
            wire.pause(self.plan.token_every).await?;
            let frame = self.shape.token(Plan::token(i));
            if cut_at == Some(i) {
                wire.cut(&frame[..frame.len() / 2]).await;
                return Ok(());
            }
            wire.send(frame).await?;
        }
        if !self.plan.fails() {
            for frame in self.shape.tail(produced) {
                wire.send(frame).await?;
            }
        } else if self.behaviour.mock_error_as_reset() {
            wire.cut(b"").await;
            return Ok(());
        } else {
            for frame in self.shape.error(produced) {
                wire.send(frame).await?;
            }
        }
        wire.finish().await;
        Ok(())
    }
}
