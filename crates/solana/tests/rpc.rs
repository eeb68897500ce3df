//! The RPC client against nodes that misbehave: one that is not there, one
//! that answers JSON of the wrong shape, and one that refuses. Each is a typed
//! error, never a panic. (The fake nodes are plain sockets that answer every
//! request with a fixed HTTP reply.)

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use x402scope_solana::rpc::{RpcConfig, RpcError, SolanaRpc};

/// A node at a local port that answers every request with `body`.
async fn fake_node(body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = sock.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn rpc(url: String) -> SolanaRpc {
    let mut config = RpcConfig::new(url);
    config.max_attempts = 2;
    config.backoff = Duration::from_millis(10);
    config.timeout = Duration::from_secs(5);
    SolanaRpc::new(config, CancellationToken::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_node_is_unreachable_after_the_retries() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let got = rpc(format!("http://127.0.0.1:{port}"))
        .finalized_slot()
        .await;
    assert!(
        matches!(got, Err(RpcError::Unreachable { attempts: 2, .. })),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_of_the_wrong_shape_are_invalid() {
    let url = fake_node(r#"{"jsonrpc":"2.0","id":1,"result":{"not":"a slot"}}"#).await;
    let node = rpc(url);
    assert!(matches!(
        node.finalized_slot().await,
        Err(RpcError::Invalid { .. })
    ));
    assert!(matches!(
        node.signatures("11111111111111111111111111111111", None, None, 10)
            .await,
        Err(RpcError::Invalid { .. })
    ));
    assert!(matches!(
        node.transaction("x").await,
        Err(RpcError::Invalid { .. })
    ));
    let url =
        fake_node(r#"{"jsonrpc":"2.0","id":1,"result":{"context":{"slot":1},"value":[]}}"#).await;
    // fewer statuses than signatures asked for
    assert!(matches!(
        rpc(url).statuses(&["a".into(), "b".into()]).await,
        Err(RpcError::Invalid { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_not_retried() {
    let url =
        fake_node(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Invalid params"}}"#)
            .await;
    assert!(matches!(
        rpc(url).finalized_slot().await,
        Err(RpcError::Refused { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_transaction_the_node_lacks_is_reported() {
    let url = fake_node(r#"{"jsonrpc":"2.0","id":1,"result":null}"#).await;
    assert!(matches!(
        rpc(url).transaction("5igz").await,
        Err(RpcError::MissingTransaction { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_a_call() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let node = SolanaRpc::new(RpcConfig::new(format!("http://127.0.0.1:{port}")), cancel);
    assert!(matches!(
        node.finalized_slot().await,
        Err(RpcError::Cancelled)
    ));
}
