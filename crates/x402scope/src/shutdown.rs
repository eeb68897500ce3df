//! One cancellation token for the whole process, cancelled on SIGINT or SIGTERM.
//! Every long-running task takes a child of it and finishes its current unit of
//! work before returning, so no accepted data is lost on Ctrl-C.

use tokio_util::sync::CancellationToken;

/// Cancel `token` on the first SIGINT or SIGTERM; a second signal exits at once.
pub fn install(token: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(
            "shutdown requested; finishing in-flight work (press Ctrl-C again to force)"
        );
        token.cancel();
        wait_for_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
