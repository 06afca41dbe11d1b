//! What the async core awaits without an executor of its own: a future polled once (the
//! non-blocking calls), a one-shot channel for wgpu's callbacks, and reading a buffer back.

use super::{lock, Context};
use crate::error::{Error, Result};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// `f`'s output if it completes on its first poll, else `None` (and `f` is dropped). On native
/// wgpu (wgpu-core) every future the crate awaits is ready at once, save a buffer mapping, which
/// [`read_back`] completes inside `device.poll`; on WebGPU they wait for the browser.
pub(super) fn poll_once<F: Future>(f: F) -> Option<F::Output> {
    match pin!(f).poll(&mut std::task::Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// [`poll_once`] for the crate's synchronous, never-blocking calls: a future that is not ready
/// at once (WebGPU) is an [`Error::Unsupported`] naming the async call to use instead.
pub(crate) fn now<T>(what: &str, instead: &str, f: impl Future<Output = Result<T>>) -> Result<T> {
    poll_once(f).unwrap_or_else(|| {
        Err(Error::Unsupported(format!(
            "{what} must be awaited on this backend (WebGPU answers error scopes and mappings only \
             asynchronously): use {instead}"
        )))
    })
}

/// What a [`Sender`] hands its [`Receiver`], and who to wake.
struct Slot<T> {
    value: Option<T>,
    closed: bool,
    waker: Option<Waker>,
}

/// The sending half of [`oneshot`]; dropping it unsent makes the receiver yield `None`.
pub(super) struct Sender<T>(Arc<Mutex<Slot<T>>>);

/// The receiving half of [`oneshot`]: a future of the value, `None` if the sender was dropped.
pub(super) struct Receiver<T>(Arc<Mutex<Slot<T>>>);

/// A channel for one value, for wgpu callbacks (`map_async`) the async core awaits.
pub(super) fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot { value: None, closed: false, waker: None }));
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    pub fn send(self, value: T) {
        lock(&self.0).value = Some(value);
        // Drop wakes the receiver.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = lock(&self.0);
            slot.closed = true;
            slot.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Option<T>;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<T>> {
        let mut slot = lock(&self.0);
        if let Some(v) = slot.value.take() {
            return Poll::Ready(Some(v));
        }
        if slot.closed {
            return Poll::Ready(None);
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Maps a MAP_READ buffer once the GPU is done with it and copies its contents out. The map
/// callback is awaited: on WebGPU the browser calls it, with no `device.poll` wait (there is
/// none); wgpu-core calls callbacks only from `device.poll`, so there the queue is waited on
/// first (which blocks this thread until the GPU is done).
pub(crate) async fn read_back(ctx: &Context, buffer: &wgpu::Buffer) -> Result<Vec<u8>> {
    let (tx, rx) = oneshot();
    buffer.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r));
    if !ctx.is_web() {
        ctx.wait()?;
    }
    rx.await
        .ok_or_else(|| Error::Gpu("buffer mapping was dropped".into()))?
        .map_err(|e| Error::Gpu(format!("mapping the result: {e}")))?;
    let bytes =
        buffer.get_mapped_range(..).map_err(|e| Error::Gpu(format!("reading the result: {e}")))?.to_vec();
    buffer.unmap();
    Ok(bytes)
}
